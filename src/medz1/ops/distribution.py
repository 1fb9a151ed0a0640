"""Is the schema ready to be distributed by patient (``medz1 check --citus-ready``)?

Citus shards a distributed table by one column and enforces a uniqueness rule (primary
key, unique constraint, unique index, exclusion constraint) only when the rule includes
that column, and a foreign key between two distributed tables only when it includes the
column on both sides, so that every row it relates lives on the same shard (Citus
documentation, "Distributing tables" and "Table constraints"). medz1 distributes every
patient table by ``patient_key`` and co-locates them all; tables without a patient are
reference tables (copied to every node).

This module reads the catalog and names every object that breaks those rules. Plain
(non-unique) indexes need not hold the distribution column: each shard keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from medz1.db.engine import make_engine
from medz1.db.errors import translate
from medz1.db.target import Target

#: The distribution column of every patient table.
DISTRIBUTION_COLUMN = "patient_key"
#: Schemas whose every table holds patient rows and must be distributed.
PATIENT_SCHEMAS: tuple[str, ...] = ("public",)
#: Schemas whose tables are distributed when they have a ``patient_key`` column and are
#: reference tables otherwise.
MIXED_SCHEMAS: tuple[str, ...] = ("ai",)
#: Schemas that hold no patient rows: every table is a reference table.
REFERENCE_SCHEMAS: tuple[str, ...] = ("auth", "admin")
#: Tables that stay on the coordinator whatever their schema (Alembic's bookkeeping).
COORDINATOR_TABLES: frozenset[str] = frozenset({"public.alembic_version"})

_TABLES = text(
    """
    SELECT n.nspname AS schema, c.relname AS name,
           EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = :column
                      AND a.attnum > 0 AND NOT a.attisdropped) AS has_column
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname = ANY(:schemas)
     ORDER BY 1, 2
    """
)

#: Constraints (p, u, x, f) and unique indexes not backing a constraint, with the column
#: names they cover (expressions count as not covering the column).
_RULES = text(
    """
    SELECT n.nspname AS schema, c.relname AS tbl, k.conname AS name, k.contype AS kind,
           ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(num, pos)
                   JOIN pg_catalog.pg_attribute a
                     ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.pos)
               AS cols,
           rn.nspname AS ref_schema, rc.relname AS ref_table,
           ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(num, pos)
                   JOIN pg_catalog.pg_attribute a
                     ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.pos)
               AS ref_cols
      FROM pg_catalog.pg_constraint k
      JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_catalog.pg_class rc ON rc.oid = k.confrelid
      LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
     WHERE k.contype IN ('p', 'u', 'x', 'f') AND n.nspname = ANY(:schemas)
    UNION ALL
    SELECT n.nspname, c.relname, ic.relname, 'i',
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) u(num)
                   JOIN pg_catalog.pg_attribute a
                     ON a.attrelid = i.indrelid AND a.attnum = u.num),
           NULL, NULL, NULL
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE i.indisunique AND n.nspname = ANY(:schemas)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid
                                                                  AND k.conrelid = i.indrelid)
     ORDER BY 1, 2, 3
    """
)

_KIND = {
    "p": "primary key",
    "u": "unique constraint",
    "x": "exclusion constraint",
    "i": "unique index",
    "f": "foreign key",
}


@dataclass(frozen=True)
class DistributionReport:
    """What ``check --citus-ready`` prints.

    Attributes:
        distributed: ``schema.table`` of every table to distribute by ``patient_key``.
        reference: ``schema.table`` of every table that would be a reference table.
        coordinator: tables kept on the coordinator only (Alembic's version table).
        problems: one line per table, key, constraint or index that keeps the schema from
            being distributed by ``patient_key``; empty when it is ready.
    """

    distributed: tuple[str, ...]
    reference: tuple[str, ...]
    coordinator: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """True when nothing stops distribution by ``patient_key``."""
        return not self.problems


def _includes_column(kind: str, cols: list[str], ref_cols: list[str] | None) -> bool:
    if kind != "f":
        return DISTRIBUTION_COLUMN in cols
    # Both sides hold patient_key and pair it with itself.
    pairs = list(zip(cols, ref_cols or [], strict=False))
    return (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) in pairs


def inspect_distribution(conn: Connection) -> DistributionReport:
    """Classify medz1's tables for Citus and name what would refuse distribution.

    Rules (Citus "Table constraints"): a patient table must have ``patient_key``; its
    primary key, unique constraints, exclusion constraints and unique indexes must
    include it; a foreign key between two distributed tables must pair ``patient_key``
    with ``patient_key``; a distributed table may reference a reference table, but a
    reference table may not reference a distributed one.

    Args:
        conn: a connection to the medz1 database (any role that reads the catalog).

    Returns:
        The tables by kind and one line per problem (empty when ready).
    """
    schemas = [*PATIENT_SCHEMAS, *MIXED_SCHEMAS, *REFERENCE_SCHEMAS]
    distributed: list[str] = []
    reference: list[str] = []
    coordinator: list[str] = []
    problems: list[str] = []
    for row in conn.execute(_TABLES, {"column": DISTRIBUTION_COLUMN, "schemas": schemas}):
        name = f"{row.schema}.{row.name}"
        if name in COORDINATOR_TABLES:
            coordinator.append(name)
        elif row.schema in PATIENT_SCHEMAS:
            distributed.append(name)
            if not row.has_column:
                problems.append(f"table {name} has no {DISTRIBUTION_COLUMN} column")
        elif row.schema in MIXED_SCHEMAS and row.has_column:
            distributed.append(name)
        else:
            reference.append(name)
    distributed_set = set(distributed)
    for rule in conn.execute(_RULES, {"schemas": schemas}):
        table = f"{rule.schema}.{rule.tbl}"
        kind = _KIND[rule.kind]
        if rule.kind == "f":
            referenced = f"{rule.ref_schema}.{rule.ref_table}"
            if table in distributed_set and referenced in distributed_set:
                if not _includes_column("f", list(rule.cols), list(rule.ref_cols)):
                    problems.append(
                        f"{kind} {rule.name} on {table} -> {referenced} does not pair "
                        f"{DISTRIBUTION_COLUMN} with {DISTRIBUTION_COLUMN}"
                    )
            elif table not in distributed_set and referenced in distributed_set:
                problems.append(
                    f"{kind} {rule.name} on reference table {table} references the "
                    f"distributed table {referenced}"
                )
        elif table in distributed_set and not _includes_column(rule.kind, list(rule.cols), None):
            problems.append(f"{kind} {rule.name} on {table} does not include {DISTRIBUTION_COLUMN}")
    return DistributionReport(
        distributed=tuple(distributed),
        reference=tuple(reference),
        coordinator=tuple(coordinator),
        problems=tuple(problems),
    )


def citus_readiness(target: Target) -> DistributionReport:
    """Connect to ``target`` and run :func:`inspect_distribution`.

    Raises:
        Medz1Error: the database cannot be reached or read (the driver's error translated
            by SQLSTATE in ``db.errors``: a connection failure or a missing database, 3).
    """
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            return inspect_distribution(conn)
    except DBAPIError as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        engine.dispose()
