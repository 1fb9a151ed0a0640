"""Schema information: schemas, tables and one table's full description, from the catalogs.

These are the seed's "schema information queries", extended with estimated row counts,
sizes, keys, indexes and comments.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.errors import NotFoundError, UsageError
from medz1.models import SCHEMAS


@dataclass(frozen=True)
class SchemaSummary:
    """One schema with its table count, estimated rows and total size."""

    name: str
    tables: int
    estimated_rows: int
    size_bytes: int


@dataclass(frozen=True)
class TableSummary:
    """One table with its estimated rows, total size (with indexes and TOAST) and comment."""

    schema: str
    name: str
    estimated_rows: int
    size_bytes: int
    comment: str | None


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a described table."""

    name: str
    type: str
    nullable: bool
    default: str | None
    comment: str | None
    primary_key: bool


@dataclass(frozen=True)
class TableDescription:
    """Everything ``medz1 schema describe`` shows about one table."""

    schema: str
    name: str
    comment: str | None
    columns: list[ColumnInfo]
    constraints: list[tuple[str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """``schema.table``."""
        return f"{self.schema}.{self.name}"


_TABLES_SQL = text(
    """
    SELECT n.nspname AS schema, c.relname AS name,
           c.reltuples::bigint AS estimated_rows,
           pg_total_relation_size(c.oid) AS size_bytes,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(:schemas)
      AND c.relname <> 'alembic_version'
    ORDER BY array_position(:schemas, n.nspname::text), c.relname
    """
)


def list_tables(conn: Connection, schema: str | None = None) -> list[TableSummary]:
    """Tables of medz1's schemas (or of one schema), ordered by schema then name.

    Args:
        conn: a connection to the medz1 database.
        schema: one schema's name; None for every medz1 schema.

    Returns:
        Each table with its estimated row count (from the planner's statistics), its size
        in bytes and its comment.
    """
    schemas = list(SCHEMAS) if schema is None else [schema]
    rows = conn.execute(_TABLES_SQL, {"schemas": schemas}).mappings()
    return [_with_row_estimate(conn, TableSummary(**row)) for row in rows]


#: Tables never analysed are counted exactly up to this size; larger ones show 0.
_EXACT_COUNT_BYTES = 64 * 1024 * 1024


def _with_row_estimate(conn: Connection, table: TableSummary) -> TableSummary:
    """Replace PostgreSQL's "never analysed" (-1) by an exact count for small tables."""
    if table.estimated_rows >= 0:
        return table
    rows = 0
    if table.size_bytes <= _EXACT_COUNT_BYTES:
        statement = sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(table.schema, table.name)
        )
        rows = int(conn.exec_driver_sql(statement.as_string()).scalar_one())
    return dataclasses.replace(table, estimated_rows=rows)


def list_schemas(conn: Connection) -> list[SchemaSummary]:
    """medz1's schemas that exist, with table counts, estimated rows and sizes."""
    existing = set(
        conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"), {"s": list(SCHEMAS)}
        ).scalars()
    )
    tables = list_tables(conn)
    return [
        SchemaSummary(
            name=name,
            tables=sum(1 for t in tables if t.schema == name),
            estimated_rows=sum(t.estimated_rows for t in tables if t.schema == name),
            size_bytes=sum(t.size_bytes for t in tables if t.schema == name),
        )
        for name in SCHEMAS
        if name in existing
    ]


_COLUMNS_SQL = text(
    """
    SELECT a.attname AS name,
           format_type(a.atttypid, a.atttypmod) AS type,
           NOT a.attnotnull AS nullable,
           CASE WHEN a.attidentity IN ('a', 'd') THEN
                'generated ' || CASE a.attidentity WHEN 'a' THEN 'always' ELSE 'by default' END
                || ' as identity'
                ELSE pg_get_expr(d.adbin, d.adrelid) END AS default,
           col_description(a.attrelid, a.attnum) AS comment,
           EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = a.attrelid
                   AND p.contype = 'p' AND a.attnum = ANY(p.conkey)) AS primary_key
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = CAST(:oid AS oid) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)


#: PostgreSQL keeps at most NAMEDATALEN - 1 = 63 bytes of an identifier.
_MAX_IDENTIFIER_BYTES = 63


def split_table_name(name: str) -> tuple[str | None, str]:
    """Check a table name given by a user and split it into (schema or None, table).

    A name is ``table`` or ``schema.table``, each part 1 to 63 bytes of UTF-8 without
    control characters (PostgreSQL identifiers; a NUL can never reach the server), and the
    schema one of medz1's. Checked before any query, so bad input never becomes a driver
    error.

    Raises:
        UsageError: empty part, control character, more than 63 bytes, or not UTF-8.
        NotFoundError: the schema is not one of medz1's.
    """
    schema, dot, table = name.rpartition(".")
    for part in ([schema] if dot else []) + [table]:
        if not part:
            raise UsageError(
                f"{name!r} is not a table name: a part is empty",
                hint="pass TABLE or SCHEMA.TABLE, e.g. auth.users",
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in part):
            raise UsageError(
                f"{name!r} is not a table name: it holds a control character",
                hint="pass TABLE or SCHEMA.TABLE, e.g. auth.users",
            )
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise UsageError(
                f"{name!r} is not a table name: it is not valid text",
                hint="pass TABLE or SCHEMA.TABLE, e.g. auth.users",
            ) from exc
        if size > _MAX_IDENTIFIER_BYTES:
            raise UsageError(
                f"{name[:80]!r}... is not a table name: longer than {_MAX_IDENTIFIER_BYTES} bytes",
                hint="see `medz1 schema tables` for the tables that exist",
            )
    if dot and schema not in SCHEMAS:
        raise NotFoundError(
            f"no medz1 schema named {schema!r}", hint="use one of " + ", ".join(SCHEMAS)
        )
    return (schema if dot else None), table


def _resolve(conn: Connection, name: str) -> tuple[int, str, str, str | None]:
    """Find a table by ``schema.table`` or bare name (searched in medz1's schemas)."""
    schema, table = split_table_name(name)
    rows = conn.execute(
        text(
            """
            SELECT c.oid, n.nspname, c.relname, obj_description(c.oid, 'pg_class')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND c.relname = :table
              AND n.nspname = ANY(:schemas)
            ORDER BY array_position(:schemas, n.nspname::text)
            """
        ),
        {"table": table, "schemas": [schema] if schema else list(SCHEMAS)},
    ).all()
    if not rows:
        known = [f"{t.schema}.{t.name}" for t in list_tables(conn)]
        candidates = known + [k.split(".", 1)[1] for k in known]
        near = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = (
            "did you mean " + " or ".join(near) + "?"
            if near
            else "see `medz1 schema tables` for the tables that exist"
        )
        raise NotFoundError(f"no table named {name!r}", hint=hint)
    oid, nsp, rel, comment = rows[0]
    return int(oid), str(nsp), str(rel), comment


def describe_table(conn: Connection, name: str) -> TableDescription:
    """Columns, types, nullability, defaults, keys, indexes and comments of one table.

    Args:
        conn: a connection to the medz1 database.
        name: ``schema.table``, or a table of ``public``.

    Returns:
        The table's columns in their order, its constraints and its indexes.

    Raises:
        UsageError: ``name`` cannot be a table name (see :func:`split_table_name`).
        NotFoundError: no such table or schema; the hint suggests near names.
    """
    oid, schema, table, comment = _resolve(conn, name)
    columns = [ColumnInfo(**row) for row in conn.execute(_COLUMNS_SQL, {"oid": oid}).mappings()]
    constraints = [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:oid AS oid) ORDER BY contype <> 'p', conname"
            ),
            {"oid": oid},
        )
    ]
    indexes = [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = CAST(:oid AS oid) ORDER BY i.relname"
            ),
            {"oid": oid},
        )
    ]
    return TableDescription(
        schema=schema,
        name=table,
        comment=comment,
        columns=columns,
        constraints=constraints,
        indexes=indexes,
    )
