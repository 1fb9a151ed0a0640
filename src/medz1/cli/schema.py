"""``medz1 schema list | tables | describe``: what the database holds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import (
    JSON_OPTION,
    SCHEMA_COLUMNS,
    CliContext,
    Col,
    cli_context,
    human_size,
    schema_rows,
)
from medz1.errors import NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Connection

app = typer.Typer(help="Schemas, tables and columns of the medz1 database.", no_args_is_help=True)

#: Columns of ``schema tables``: the qualified name is never cut; the comment goes first.
TABLE_COLUMNS = (
    Col("table", key=True),
    Col("est. rows", justify="right", drop=2),
    Col("size", justify="right", drop=3),
    Col("comment", drop=1),
)


@contextmanager
def _connection(c: CliContext) -> Iterator[Connection]:
    from medz1.db.errors import translated

    _, engine = c.admin_engine()
    try:
        with translated(), engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List medz1's schemas with table counts, estimated rows and sizes.

    Example: medz1 schema list
    """
    from medz1.ops import schema_info

    c = cli_context(ctx)
    with _connection(c) as conn:
        schemas = schema_info.list_schemas(conn)
    if as_json:
        c.print_json([dataclasses.asdict(s) for s in schemas])
    else:
        c.table(SCHEMA_COLUMNS, schema_rows(schemas))


@app.command()
def tables(
    ctx: typer.Context,
    schema: str = typer.Argument(None, help="Only this schema (public, auth, ai, admin)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the tables of one schema or of all, with estimated rows, size and comment.

    Table names are never cut (tab-separated when piped). Example: medz1 schema tables auth
    """
    from medz1.models import SCHEMAS
    from medz1.ops import schema_info

    if schema is not None and schema not in SCHEMAS:
        raise NotFoundError(
            f"no medz1 schema named {schema!r}", hint="use one of " + ", ".join(SCHEMAS)
        )
    c = cli_context(ctx)
    with _connection(c) as conn:
        found = schema_info.list_tables(conn, schema)
    if as_json:
        c.print_json([dataclasses.asdict(t) for t in found])
        return
    c.table(
        TABLE_COLUMNS,
        [
            [
                f"{t.schema}.{t.name}",
                f"{t.estimated_rows:,}",
                human_size(t.size_bytes),
                t.comment or "",
            ]
            for t in found
        ],
    )


@app.command()
def describe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Table name, bare or schema-qualified (auth.users)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Describe a table: columns, types, nullability, defaults, keys, indexes, comments.

    Example: medz1 schema describe patient_vitals
    """
    from medz1.ops import schema_info

    schema_info.split_table_name(name)  # bad names are refused before connecting
    c = cli_context(ctx)
    with _connection(c) as conn:
        found = schema_info.describe_table(conn, name)
    if as_json:
        c.print_json(dataclasses.asdict(found))
        return
    # Catalog text (comments, defaults) is shown as it is, never read as rich markup.
    c.print(f"{found.qualified_name}: {found.comment or ''}")
    c.table(
        (
            Col("column", key=True),
            Col("type", key=True),
            Col("null"),
            Col("default", drop=2),
            Col("comment", drop=1),
        ),
        [
            [
                ("* " if col.primary_key else "") + col.name,
                col.type,
                "yes" if col.nullable else "no",
                col.default or "",
                col.comment or "",
            ]
            for col in found.columns
        ],
    )
    c.table(
        (Col("constraint", key=True), Col("definition")),
        [[cname, definition] for cname, definition in found.constraints],
    )
    c.table(
        (Col("index", key=True), Col("definition")),
        [[iname, definition] for iname, definition in found.indexes],
    )
