"""``medz1 up`` and ``medz1 down``."""

from __future__ import annotations

from rich.table import Table

from medz1.cli.console import out
from medz1.cli.context import policy, server, state, target
from medz1.ops.schema_info import SchemaSummary
from medz1.ops.up import UpReport
from medz1.ops.up import up as run_up


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
    out.print(schemas_table(report.schemas))


def up() -> None:
    """Start the server if needed, create the database, migrate; safe to run again.

    A second run changes nothing and says so. Example: medz1 up
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
    report = run_up(where, policy(settings, generate_passwords=True))
    _print_report(report)
    if report.changed or server_started:
        out.print("medz1 is up.")
    else:
        out.print("nothing to do: everything was already up to date.")


def down() -> None:
    """Stop the embedded server (data is kept; `medz1 up` starts it again).

    Example: medz1 down
    """
    stopped = server(state.settings()).stop()
    out.print("server stopped" if stopped else "server was not running")
