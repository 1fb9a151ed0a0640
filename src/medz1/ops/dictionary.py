"""The data dictionary (``docs/data-dictionary.md``), generated from the models' comments."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, MetaData, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql

from medz1.models import SCHEMAS

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

HEADER = """\
# medz1 data dictionary

Generated from the comments of medz1's SQLAlchemy models by `medz1 docs dictionary`;
do not edit by hand (a test fails when this file is stale). Types are PostgreSQL's;
every timestamp is `timestamptz` in UTC.
"""


def _type(column: Column[object]) -> str:
    return str(column.type.compile(dialect=_DIALECT)).lower()


def _default(column: Column[object]) -> str:
    if column.identity is not None:
        return "identity"
    default = column.server_default
    if default is None:
        return ""
    arg = getattr(default, "arg", "")
    return str(getattr(arg, "text", arg))


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _keys(table: Table) -> list[str]:
    lines = []
    pk = table.primary_key
    if pk.columns:
        lines.append("primary key (" + ", ".join(c.name for c in pk.columns) + ")")
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, UniqueConstraint):
            lines.append("unique (" + ", ".join(c.name for c in constraint.columns) + ")")
        elif isinstance(constraint, CheckConstraint):
            lines.append(f"check {constraint.sqltext}")
    for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
        ondelete = f" on delete {fk.ondelete.lower()}" if fk.ondelete else ""
        lines.append(f"{fk.parent.name} references {fk.target_fullname}{ondelete}")
    return lines


def render(metadata: MetaData) -> str:
    """The whole dictionary as Markdown: one section per schema, one table per table."""
    parts = [HEADER]
    for schema in SCHEMAS:
        tables = sorted(
            (t for t in metadata.tables.values() if (t.schema or "public") == schema),
            key=lambda t: t.name,
        )
        if not tables:
            continue
        parts.append(f"\n## Schema `{schema}`\n")
        for table in tables:
            parts.append(f"\n### {schema}.{table.name}\n\n{_cell(table.comment)}\n")
            parts.append("\n| column | type | null | default | description |")
            parts.append("\n|---|---|---|---|---|")
            for column in table.columns:
                parts.append(
                    f"\n| {column.name} | {_type(column)} | {'yes' if column.nullable else 'no'} "
                    f"| {_cell(_default(column))} | {_cell(column.comment)} |"
                )
            keys = _keys(table)
            if keys:
                parts.append("\n\nKeys: " + "; ".join(f"`{_cell(k)}`" for k in keys) + ".\n")
            else:
                parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"
