"""``medz1 migrate upgrade | downgrade | current | history``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context
from medz1.errors import UsageError

if TYPE_CHECKING:
    from medz1.ops.migrate import MigrationResult


def _result_json(c: CliContext, result: MigrationResult) -> None:
    c.print_json({"before": result.before, "after": result.after, "changed": result.changed})


app = typer.Typer(help="Apply, revert and inspect schema migrations.", no_args_is_help=True)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Upgrade the database to a revision, in one transaction.

    Example: medz1 migrate upgrade
    """
    from medz1.db.errors import translated
    from medz1.ops import migrate as ops

    c = cli_context(ctx)
    _, engine = c.admin_engine()
    try:
        with translated():
            result = ops.upgrade(engine, revision)
    finally:
        engine.dispose()
    if as_json:
        _result_json(c, result)
    elif result.changed:
        c.print(f"upgraded: {result.before or 'empty'} -> {result.after}")
    else:
        c.nothing_to_do(f"already at {result.after}")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(..., help="Target revision; 'base' removes every object."),
    yes: bool = typer.Option(False, "--yes", help="Confirm a downgrade that drops data."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Downgrade the database to a revision, in one transaction. Drops data: needs --yes.

    Example: medz1 migrate downgrade base --yes
    """
    if not yes:
        raise UsageError(
            "a downgrade drops tables and their data", hint="add --yes if that is what you want"
        )
    from medz1.db.errors import translated
    from medz1.ops import migrate as ops

    c = cli_context(ctx)
    _, engine = c.admin_engine()
    try:
        with translated():
            result = ops.downgrade(engine, revision)
    finally:
        engine.dispose()
    if as_json:
        _result_json(c, result)
    elif result.changed:
        c.print(f"downgraded: {result.before or 'empty'} -> {result.after or 'empty'}")
    else:
        c.nothing_to_do(f"already at {result.after or 'empty'}")


@app.command()
def current(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show the revision the database is at, and the newest one.

    Example: medz1 migrate current
    """
    from medz1.db.errors import translated
    from medz1.ops import migrate as ops

    c = cli_context(ctx)
    _, engine = c.admin_engine()
    try:
        with translated(), engine.connect() as conn:
            revision = ops.current_revision(conn)
    finally:
        engine.dispose()
    head = ops.head_revision()
    if as_json:
        c.print_json({"current": revision, "head": head, "up_to_date": revision == head})
        return
    note = "(newest)" if revision == head else f"(newest is {head}; run `medz1 migrate upgrade`)"
    c.print(f"{revision or 'empty (never migrated)'} {note}")


@app.command()
def history(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the migrations medz1 ships, oldest first.

    Example: medz1 migrate history
    """
    from medz1.ops import migrate as ops

    c = cli_context(ctx)
    revisions = ops.history()
    if as_json:
        c.print_json([r.__dict__ for r in revisions])
        return
    c.table(
        (Col("revision", key=True), Col("down from", key=True), Col("description")),
        [
            [
                r.revision + (" (head)" if r.is_head else ""),
                r.down_revision or "-",
                r.message.splitlines()[0] if r.message else "",
            ]
            for r in revisions
        ],
    )
