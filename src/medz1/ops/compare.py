"""Compare the declared models with the live database (Alembic autogenerate, read-only)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from medz1.models import SCHEMAS, metadata

#: The per-station partial HNSW indexes of ``ai.patient_embeddings``.
STATION_INDEX_PREFIX = "ix_patient_embeddings_hnsw_s"
#: Schemas compared; ``None`` is how Alembic names the default schema (``public``).
_COMPARED_SCHEMAS: frozenset[str | None] = frozenset({None, *SCHEMAS})


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic filter: look only at medz1's schemas, never at other applications' objects.

    Args:
        name: the object's name (None for an unnamed object).
        type_: Alembic's kind of object (``schema``, ``table``, ``index`` ...).
        parent_names: Alembic's names of the enclosing schema and table.

    Returns:
        True when Alembic should compare the object.
    """
    if type_ == "schema":
        return name in _COMPARED_SCHEMAS
    # The per-station indexes are created when a station first appears (migration 0014).
    return not (type_ == "index" and name and name.startswith(STATION_INDEX_PREFIX))


def _describe(diff: Any) -> str:
    """One line for one Alembic difference tuple."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(item) for item in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        where = (
            "declared but missing from the database"
            if kind == "add_table"
            else ("in the database but not declared")
        )
        return f"table {table.fullname}: {where}"
    if kind in ("add_column", "remove_column"):
        schema, table, column = diff[1], diff[2], diff[3]
        where = "declared but missing" if kind == "add_column" else "in the database, not declared"
        return f"column {schema or 'public'}.{table}.{column.name}: {where}"
    if kind.startswith("modify_"):
        # ("modify_nullable", schema, table, column, existing, database value, declared)
        schema, table, column = diff[1], diff[2], diff[3]
        what = kind.removeprefix("modify_")
        return (
            f"column {schema or 'public'}.{table}.{column}: {what} is {diff[5]!s} "
            f"in the database, declared {diff[6]!s}"
        )
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = diff[1]
        table = getattr(obj, "table", None)
        where = f" on {table.fullname}" if table is not None else ""
        state = (
            "declared but missing" if kind.startswith("add") else "in the database, not declared"
        )
        return f"{kind.split('_')[1]} {obj.name}{where}: {state}"
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        state = "declared but missing" if kind == "add_fk" else "in the database, not declared"
        return f"foreign key {fk.name} on {fk.parent.fullname}: {state}"
    if kind in ("add_table_comment", "remove_table_comment"):
        return f"comment of table {diff[1].fullname} differs"
    return f"{kind}: {diff[1:]!r}"


def schema_differences(connection: Connection) -> list[str]:
    """Every difference between the models and the database, one line each; [] when equal.

    Triggers, functions and CHECK constraints are not Alembic's business:
    ``provision.catalog`` compares them.
    """
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_type": True,
            "compare_server_default": True,
            "target_metadata": metadata,
        },
    )
    found = [_describe(diff) for diff in compare_metadata(context, metadata)]
    return found
