"""``medz1 schema list | tables | describe``: what the database holds."""

from __future__ import annotations

import dataclasses

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from medz1.cli.console import out, print_json
from medz1.cli.context import admin_engine, state
from medz1.cli.up import human_size, schemas_table
from medz1.db.errors import translated
from medz1.errors import NotFoundError
from medz1.models import SCHEMAS
from medz1.ops import schema_info

app = typer.Typer(help="Schemas, tables and columns of the medz1 database.", no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.command("list")
def list_(as_json: bool = _JSON) -> None:
    """List medz1's schemas with table counts, estimated rows and sizes.

    Example: medz1 schema list
    """
    _, engine = admin_engine(state.settings())
    with translated(), engine.connect() as conn:
        schemas = schema_info.list_schemas(conn)
    if as_json:
        print_json([dataclasses.asdict(s) for s in schemas])
    else:
        out.print(schemas_table(schemas))


@app.command()
def tables(
    schema: str = typer.Argument(None, help="Only this schema (public, auth, ai, admin)."),
    as_json: bool = _JSON,
) -> None:
    """List the tables of one schema or of all, with estimated rows, size and comment.

    Example: medz1 schema tables auth
    """
    if schema is not None and schema not in SCHEMAS:
        raise NotFoundError(
            f"no medz1 schema named {schema!r}", hint="use one of " + ", ".join(SCHEMAS)
        )
    _, engine = admin_engine(state.settings())
    with translated(), engine.connect() as conn:
        found = schema_info.list_tables(conn, schema)
    if as_json:
        print_json([dataclasses.asdict(t) for t in found])
        return
    table = Table("table", "est. rows", "size", "comment")
    for t in found:
        table.add_row(
            Text(f"{t.schema}.{t.name}"),
            f"{t.estimated_rows:,}",
            human_size(t.size_bytes),
            Text(t.comment or ""),
        )
    out.print(table)


@app.command()
def describe(
    name: str = typer.Argument(..., help="Table name, bare or schema-qualified (auth.users)."),
    as_json: bool = _JSON,
) -> None:
    """Describe a table: columns, types, nullability, defaults, keys, indexes, comments.

    Example: medz1 schema describe patient_vitals
    """
    schema_info.split_table_name(name)  # bad names are refused before connecting
    _, engine = admin_engine(state.settings())
    with translated(), engine.connect() as conn:
        found = schema_info.describe_table(conn, name)
    if as_json:
        print_json(dataclasses.asdict(found))
        return
    # Catalog text (comments, defaults) is shown as it is, never read as rich markup.
    out.print(f"[bold]{escape(found.qualified_name)}[/bold]: {escape(found.comment or '')}")
    columns = Table("column", "type", "null", "default", "comment")
    for c in found.columns:
        columns.add_row(
            Text(("* " if c.primary_key else "") + c.name),
            Text(c.type),
            "yes" if c.nullable else "no",
            Text(c.default or ""),
            Text(c.comment or ""),
        )
    out.print(columns)
    keys = Table("constraint", "definition")
    for cname, definition in found.constraints:
        keys.add_row(Text(cname), Text(definition))
    out.print(keys)
    indexes = Table("index", "definition")
    for iname, definition in found.indexes:
        indexes.add_row(Text(iname), Text(definition))
    out.print(indexes)
