"""``medz1 migrate upgrade | downgrade | current | history``."""

from __future__ import annotations

import typer
from rich.table import Table

from medz1.cli.console import out, print_json
from medz1.cli.context import admin_engine, state
from medz1.db.errors import translated
from medz1.errors import UsageError
from medz1.ops import migrate as ops

app = typer.Typer(help="Apply, revert and inspect schema migrations.", no_args_is_help=True)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Upgrade the database to a revision, in one transaction.

    Example: medz1 migrate upgrade
    """
    _, engine = admin_engine(state.settings())
    with translated():
        result = ops.upgrade(engine, revision)
    if result.changed:
        out.print(f"upgraded: {result.before or 'empty'} -> {result.after}")
    else:
        out.print(f"nothing to do: already at {result.after}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' removes every object."),
    yes: bool = typer.Option(False, "--yes", help="Confirm a downgrade that drops data."),
) -> None:
    """Downgrade the database to a revision, in one transaction. Drops data: needs --yes.

    Example: medz1 migrate downgrade base --yes
    """
    if not yes:
        raise UsageError(
            "a downgrade drops tables and their data", hint="add --yes if that is what you want"
        )
    _, engine = admin_engine(state.settings())
    with translated():
        result = ops.downgrade(engine, revision)
    out.print(f"downgraded: {result.before or 'empty'} -> {result.after or 'empty'}")


@app.command()
def current(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the revision the database is at, and the newest one.

    Example: medz1 migrate current
    """
    _, engine = admin_engine(state.settings())
    with translated(), engine.connect() as conn:
        revision = ops.current_revision(conn)
    head = ops.head_revision()
    if as_json:
        print_json({"current": revision, "head": head, "up_to_date": revision == head})
        return
    note = "(newest)" if revision == head else f"(newest is {head}; run `medz1 migrate upgrade`)"
    out.print(f"{revision or 'empty (never migrated)'} {note}")


@app.command()
def history(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the migrations medz1 ships, oldest first.

    Example: medz1 migrate history
    """
    revisions = ops.history()
    if as_json:
        print_json([r.__dict__ for r in revisions])
        return
    table = Table("revision", "down from", "description")
    for r in revisions:
        table.add_row(
            r.revision + (" (head)" if r.is_head else ""),
            r.down_revision or "-",
            r.message.splitlines()[0] if r.message else "",
        )
    out.print(table)
