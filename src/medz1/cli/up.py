"""``medz1 up`` and ``medz1 down``."""

from __future__ import annotations

import typer
from rich.table import Table

from medz1.ai.demo import prepare as prepare_ai_demo
from medz1.auth.config import hasher_from_settings
from medz1.cli.console import out
from medz1.cli.context import server, state, target
from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.ops.database import existing_roles
from medz1.ops.demo import DEMO_PATIENTS, create_demo_clinicians, load_demo
from medz1.ops.schema_info import SchemaSummary, list_schemas
from medz1.ops.up import UpReport
from medz1.ops.up import up as run_up
from medz1.provision.credentials import Policy, policy_from_settings
from medz1.provision.policy import LOGIN_ROLES


def human_size(size: int) -> str:
    """Bytes as a short human-readable size (kB, MB, GB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def schemas_table(schemas: list[SchemaSummary]) -> Table:
    """A rich table of schema summaries."""
    table = Table("schema", "tables", "est. rows", "size", title=None)
    for s in schemas:
        table.add_row(s.name, str(s.tables), f"{s.estimated_rows:,}", human_size(s.size_bytes))
    return table


def _print_report(report: UpReport) -> None:
    out.print(
        f"database {report.database}: " + ("created" if report.database_created else "exists")
    )
    if report.extensions_installed:
        out.print("extensions installed: " + ", ".join(report.extensions_installed))
    if report.roles_repaired:
        out.print(f"roles: {len(report.roles_repaired)} change(s) applied")
    migration = report.migration
    if migration.changed:
        out.print(f"migrations: {migration.before or 'empty'} -> {migration.after}")
    else:
        out.print(f"migrations: at {migration.after} (newest)")
    if report.grants_repaired:
        out.print(f"grants: {len(report.grants_repaired)} change(s) applied")
    else:
        out.print("grants: as declared")


def up(
    demo: bool = typer.Option(
        False, "--demo", help="Also load ~100 synthetic demo patients and demo clinicians."
    ),
    adopt_database: bool = typer.Option(
        False,
        "--adopt-database",
        help="Use a database that holds other applications' objects: medz1 will take "
        "ownership of its own schemas only and revoke PUBLIC's CONNECT on the database.",
    ),
) -> None:
    """Start the server if needed, create the database, roles, schema and grants.

    Safe to run again: a second run changes nothing and says so. With --demo, an empty
    database also gets synthetic demo patients (loaded as medz1_loader). A database that
    holds objects medz1 did not create is refused (exit 2) unless --adopt-database is
    given; a login role that exists with no password known here is refused (exit 2).
    The password of an existing role is never changed (`grants apply --rotate-passwords`).
    Example: medz1 up --demo
    """
    settings = state.settings()
    server_started = False
    if settings.embedded:
        status, server_started = server(settings).start()
        out.print(
            ("server: started" if server_started else "server: already running")
            + f" (PostgreSQL {status.version}, {status.socket_dir})"
        )
    where = target(settings)
    if not where.embedded:
        out.print(f"server: {where.describe()}")
    declared = policy_from_settings(
        settings,
        generate_passwords=True,
        existing_roles=existing_roles(where, LOGIN_ROLES),
    )
    report = run_up(where, declared, adopt=adopt_database)
    if report.adopted:
        out.print(
            f"database {report.database}: adopted; it holds other applications' objects, "
            "which medz1 leaves as they are (only its own schemas and objects are managed; "
            "PUBLIC's CONNECT on the database is revoked)"
        )
    _print_report(report)
    changed = report.changed or server_started
    schemas = report.schemas
    if demo:
        changed = _demo(where, declared) or changed
        schemas = _schemas(where)  # again, now that the demo rows are there
    out.print(schemas_table(schemas))
    if changed:
        out.print("medz1 is up.")
    else:
        out.print("nothing to do: everything was already up to date.")
    if demo:
        out.print(
            "next: `medz1 serve`, then open http://127.0.0.1:8000 and log in as a demo "
            "clinician (needs the api extra: pip install '.[api]')"
        )


def _schemas(where: Target) -> list[SchemaSummary]:
    engine = make_engine(where.url)
    try:
        with translated(), engine.connect() as conn:
            return list_schemas(conn)
    finally:
        engine.dispose()


def _demo(where: Target, declared: Policy) -> bool:
    """Load demo data into an empty database; return True when something was loaded."""
    loaded = load_demo(where, declared)
    changed = bool(loaded.loads)
    if not loaded.loads:
        out.print(f"demo data: already present ({loaded.patients_before:,} patients)")
    else:
        rows = sum(r.rows for r in loaded.loads)
        seconds = sum(r.seconds for r in loaded.loads)
        out.print(f"demo data: {DEMO_PATIENTS} patients, {rows:,} rows loaded in {seconds:.1f} s")
    clinicians = create_demo_clinicians(
        where, declared, hasher=hasher_from_settings(state.settings())
    )
    if clinicians:
        table = Table("demo clinician", "home station", "password (shown once)")
        for user in clinicians:
            table.add_row(user.email, str(user.home_site_sta3n), user.password)
        out.print(table)
        changed = True
    else:
        out.print("demo clinicians: already present")
    ai = prepare_ai_demo(where, declared)
    out.print(
        f"demo AI data: {ai.interaction_pairs} interaction pair(s) loaded; "
        f"{ai.embeddings.embedded} chart(s) embedded ({ai.embeddings.chunks:,} chunks)"
    )
    return changed or bool(ai.interaction_pairs or ai.embeddings.embedded)


def down() -> None:
    """Stop the embedded server (data is kept; `medz1 up` starts it again).

    Example: medz1 down
    """
    stopped = server(state.settings()).stop()
    out.print("server stopped" if stopped else "server was not running")
