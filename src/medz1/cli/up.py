"""``medz1 up`` and ``medz1 down``: the CLI renders what :mod:`medz1.ops.up` and
:func:`medz1.ops.demo.add_demo` did."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import typer

from medz1.cli.common import JSON_OPTION, SCHEMA_COLUMNS, Col, cli_context, schema_rows

if TYPE_CHECKING:
    from medz1.cli.common import CliContext
    from medz1.ops.demo import DemoOutcome
    from medz1.ops.up import UpReport


def _print_report(c: CliContext, report: UpReport) -> None:
    c.print(f"database {report.database}: " + ("created" if report.database_created else "exists"))
    if report.extensions_installed:
        c.print("extensions installed: " + ", ".join(report.extensions_installed))
    if report.roles_repaired:
        c.print(f"roles: {len(report.roles_repaired)} change(s) applied")
    migration = report.migration
    if migration.changed:
        c.print(f"migrations: {migration.before or 'empty'} -> {migration.after}")
    else:
        c.print(f"migrations: at {migration.after} (newest)")
    if report.grants_repaired:
        c.print(f"grants: {len(report.grants_repaired)} change(s) applied")
    else:
        c.print("grants: as declared")


def _print_demo(c: CliContext, outcome: DemoOutcome) -> None:
    from medz1.ops.demo import DEMO_PATIENTS

    loaded = outcome.data
    if not loaded.loads:
        c.print(f"demo data: already present ({loaded.patients_before:,} patients)")
    else:
        rows = sum(r.rows for r in loaded.loads)
        seconds = sum(r.seconds for r in loaded.loads)
        c.print(f"demo data: {DEMO_PATIENTS} patients, {rows:,} rows loaded in {seconds:.1f} s")
    if outcome.clinicians:
        c.table(
            (
                Col("demo clinician", key=True),
                Col("home station"),
                Col("password (shown once)", key=True),
            ),
            [[u.email, str(u.home_site_sta3n), u.password] for u in outcome.clinicians],
        )
    else:
        c.print("demo clinicians: already present")
    ai = outcome.ai
    c.print(
        f"demo AI data: {ai.interaction_pairs} interaction pair(s) loaded; "
        f"{ai.embeddings.embedded} chart(s) embedded ({ai.embeddings.chunks:,} chunks)"
    )


def _as_json(
    report: UpReport, outcome: DemoOutcome | None, server: dict[str, Any] | None, changed: bool
) -> dict[str, Any]:
    schemas = outcome.schemas if outcome is not None else report.schemas
    data: dict[str, Any] = {
        "changed": changed,
        "server": server,
        "database": report.database,
        "database_created": report.database_created,
        "adopted": report.adopted,
        "extensions_installed": report.extensions_installed,
        "roles_repaired": report.roles_repaired,
        "migration": {
            "before": report.migration.before,
            "after": report.migration.after,
            "changed": report.migration.changed,
        },
        "grants_repaired": report.grants_repaired,
        "schemas": [dataclasses.asdict(s) for s in schemas],
        "demo": None,
    }
    if outcome is not None:
        data["demo"] = {
            "patients_before": outcome.data.patients_before,
            "rows_loaded": sum(r.rows for r in outcome.data.loads),
            # Shown once, as in the table: the only copy of these passwords.
            "clinicians_created": [
                {"email": u.email, "home_site_sta3n": u.home_site_sta3n, "password": u.password}
                for u in outcome.clinicians
            ],
            "interaction_pairs_loaded": outcome.ai.interaction_pairs,
            "charts_embedded": outcome.ai.embeddings.embedded,
        }
    return data


def up(
    ctx: typer.Context,
    demo: bool = typer.Option(
        False, "--demo", help="Also load ~100 synthetic demo patients and demo clinicians."
    ),
    adopt_database: bool = typer.Option(
        False,
        "--adopt-database",
        help="Use a database that holds other applications' objects: medz1 will take "
        "ownership of its own schemas only and revoke PUBLIC's CONNECT on the database.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start the server if needed, create the database, roles, schema and grants.

    Safe to run again: a second run changes nothing and says so. With --demo, an empty
    database also gets synthetic demo patients (loaded as medz1_loader). A database that
    holds objects medz1 did not create is refused (exit 2) unless --adopt-database is
    given; a login role that exists with no password known here is refused (exit 2).
    The password of an existing role is never changed (`grants apply --rotate-passwords`).
    Example: medz1 up --demo
    """
    from medz1.ops.database import existing_roles
    from medz1.ops.up import up as run_up
    from medz1.provision.credentials import role_plan_from_settings
    from medz1.provision.declared import LOGIN_ROLES

    c = cli_context(ctx)
    settings = c.settings()
    server_started = False
    server: dict[str, Any] | None = None
    if settings.embedded:
        status, server_started = c.server().start()
        server = {
            "started": server_started,
            "postgresql_version": status.version,
            "socket_dir": str(status.socket_dir),
            "data_dir": str(status.data_dir),
        }
        if not as_json:
            c.print(
                ("server: started" if server_started else "server: already running")
                + f" (PostgreSQL {status.version}, {status.socket_dir}, "
                f"data directory {status.data_dir})"
            )
    where = c.target()
    if not where.embedded and not as_json:
        c.print(f"server: {where.describe()}")
    declared = role_plan_from_settings(
        settings, generate_passwords=True, existing_roles=existing_roles(where, LOGIN_ROLES)
    )
    report = run_up(where, declared, adopt=adopt_database)
    outcome = None
    if demo:
        from medz1.auth.config import hasher_from_settings
        from medz1.ops.demo import add_demo

        outcome = add_demo(where, declared, hasher=hasher_from_settings(settings))
    changed = report.changed or server_started or (outcome is not None and outcome.changed)
    if as_json:
        c.print_json(_as_json(report, outcome, server, changed))
        return
    if report.adopted:
        c.print(
            f"database {report.database}: adopted; it holds other applications' objects, "
            "which medz1 leaves as they are (only its own schemas and objects are managed; "
            "PUBLIC's CONNECT on the database is revoked)"
        )
    _print_report(c, report)
    if outcome is not None:
        _print_demo(c, outcome)
    c.table(SCHEMA_COLUMNS, schema_rows(outcome.schemas if outcome else report.schemas))
    if changed:
        c.print("medz1 is up.")
    else:
        c.nothing_to_do("everything was already up to date")
    if demo:
        c.print(
            "next: `medz1 serve`, then open http://127.0.0.1:8000 and log in as a demo "
            "clinician (needs the api extra: pip install '.[api]')"
        )


def down(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Stop the embedded server (data is kept; `medz1 up` starts it again).

    Example: medz1 down
    """
    c = cli_context(ctx)
    embedded = c.server()
    stopped = embedded.stop()
    if as_json:
        c.print_json({"stopped": stopped, "data_dir": str(embedded.data_dir)})
    elif stopped:
        c.print(f"server stopped (data directory {embedded.data_dir})")
    else:
        c.nothing_to_do(f"the server was not running (data directory {embedded.data_dir})")
