"""Read what a backup records from a database: revision, tables, digests, ACLs, roles.

The same functions read the source database when backing up and the restored one when
verifying, so a manifest and a restore are compared like with like.

A table's digest is the SHA-256 of ``COPY (SELECT <columns> ... ORDER BY <primary key>)
TO STDOUT`` with the output settings pinned: deterministic, streamed (a million rows never
sit in memory), and independent of how the rows lie on disk. Key columns are ordered with
the "C" collation, so two servers with different default collations agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from medz1.ops.backup._manifest import Extension, RoleAttributes, TableState
from medz1.provision import actual

#: Output settings pinned while digesting, so the same rows always give the same text.
_OUTPUT_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


@dataclass(frozen=True)
class TableInfo:
    """What digesting one table needs: its columns and the order of its rows."""

    schema: str
    name: str
    columns: tuple[str, ...]
    key: tuple[tuple[str, bool], ...]  # (column, collatable); () when there is no key
    pages: int

    @property
    def qualified(self) -> str:
        """``schema.table``."""
        return f"{self.schema}.{self.name}"


def server_version(conn: Connection) -> tuple[str, int]:
    """The server's version (``18.6``) and ``server_version_num`` (``180006``)."""
    row = conn.execute(
        text("SELECT current_setting('server_version'), current_setting('server_version_num')")
    ).one()
    return str(row[0]).split()[0], int(row[1])


def migration_revision(conn: Connection) -> str | None:
    """The revision in ``public.alembic_version``; None when the table is absent or empty."""
    exists = conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    if not exists.scalar():
        return None
    value = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
    return None if value is None else str(value)


def extensions(conn: Connection) -> list[Extension]:
    """Installed extensions except ``plpgsql`` (always there)."""
    rows = conn.execute(
        text(
            "SELECT e.extname, e.extversion, n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname <> 'plpgsql' ORDER BY 1"
        )
    ).all()
    return [Extension(name=r[0], version=r[1], schema_name=r[2]) for r in rows]


def role_attributes(conn: Connection, names: tuple[str, ...]) -> list[RoleAttributes]:
    """Attributes of the existing roles among ``names`` (from ``pg_roles``: no passwords)."""
    states = actual.roles(conn, names)
    return [
        RoleAttributes(
            name=state.name,
            login=state.login,
            superuser=state.superuser,
            createrole=state.createrole,
            createdb=state.createdb,
            replication=state.replication,
            bypassrls=state.bypassrls,
            inherit=state.inherit,
            connection_limit=state.connection_limit,
        )
        for _, state in sorted(states.items())
    ]


def list_tables(conn: Connection, schemas: tuple[str, ...]) -> list[TableInfo]:
    """The ordinary tables of ``schemas`` (no extension members), with columns and key."""
    rows = conn.execute(
        text(
            """
            SELECT n.nspname, c.relname, c.relpages,
                   ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid
                         AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
                   ARRAY(SELECT a.attname FROM pg_index i
                         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, pos)
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                         WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.pos),
                   ARRAY(SELECT a.attcollation <> 0 FROM pg_index i
                         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, pos)
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                         WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.pos)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = ANY(:schemas)
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e')
            ORDER BY 1, 2
            """
        ),
        {"schemas": list(schemas)},
    ).all()
    return [
        TableInfo(
            schema=r[0],
            name=r[1],
            pages=int(r[2]),
            columns=tuple(r[3]),
            key=tuple(zip(r[4], r[5], strict=True)),
        )
        for r in rows
    ]


def pin_output_settings(conn: Connection) -> None:
    """Fix the text output of values for the rest of the transaction (before digesting).

    Parallel sorts are turned off as well: digests run next to ``pg_dump`` or to other
    digests, and extra sort workers would only compete with them for the same cores.
    """
    settings = {**_OUTPUT_SETTINGS, "max_parallel_workers_per_gather": "0"}
    conn.execute(
        text(
            "SELECT set_config(name, value, true) "
            "FROM unnest(CAST(:n AS text[]), CAST(:v AS text[])) AS s(name, value)"
        ),
        {"n": list(settings), "v": list(settings.values())},
    )


def _digest_query(table: TableInfo) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
    order: sql.Composable
    if table.key:
        order = sql.SQL(", ").join(
            sql.SQL('{} COLLATE "C"').format(sql.Identifier(c)) if collatable else sql.Identifier(c)
            for c, collatable in table.key
        )
    else:  # no primary key: order by the whole row's text
        order = sql.SQL('r::text COLLATE "C"')
    return sql.SQL("COPY (SELECT {} FROM {} AS r ORDER BY {}) TO STDOUT").format(
        columns, sql.Identifier(table.schema, table.name), order
    )


def table_digest(conn: Connection, table: TableInfo) -> TableState:
    """Row count and SHA-256 of one table's rows in key order, streamed from the server.

    Call :func:`pin_output_settings` first, in the same transaction.
    """
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    digest = hashlib.sha256()
    rows = 0
    with raw.cursor() as cursor, cursor.copy(_digest_query(table)) as copy:
        for block in copy:
            digest.update(block)
            # Text COPY escapes newlines inside values, so each b"\n" ends one row.
            rows += bytes(block).count(b"\n")
    return TableState(name=table.qualified, rows=rows, sha256=digest.hexdigest(), order=table.key)


def digest_like(conn: Connection, expected: TableState) -> TableState | None:
    """Digest a restored table in the order its manifest entry was digested in.

    None when the table does not exist. Call :func:`pin_output_settings` first.
    """
    schema, name = expected.name.split(".", 1)
    columns = conn.execute(
        text(
            "SELECT ARRAY(SELECT attname FROM pg_attribute "
            "WHERE attrelid = to_regclass(quote_ident(:s) || '.' || quote_ident(:n)) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum)"
        ),
        {"s": schema, "n": name},
    ).scalar_one()
    if not columns:
        return None
    info = TableInfo(schema=schema, name=name, columns=tuple(columns), key=expected.order, pages=0)
    return table_digest(conn, info)


def digest_tables(
    engine: Engine,
    tables: list[TableInfo],
    *,
    snapshot: str | None = None,
    workers: int = 2,
    on_table: Callable[[], None] | None = None,
) -> list[TableState]:
    """Digest ``tables`` over ``workers`` connections of ``engine``, largest first.

    With ``snapshot`` (from ``pg_export_snapshot()``) every connection reads that snapshot,
    so the digests describe the same data as a ``pg_dump --snapshot`` running meanwhile.
    """

    def digest(table: TableInfo) -> TableState:
        with engine.connect() as conn:
            if snapshot is not None:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(
                    sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)).as_string()
                )
            pin_output_settings(conn)
            state = table_digest(conn, table)
            conn.rollback()
        if on_table is not None:
            on_table()
        return state

    ordered = sorted(tables, key=lambda t: (-t.pages, t.qualified))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        states = list(pool.map(digest, ordered))
    return sorted(states, key=lambda s: s.name)


_ACL_QUERY = """
WITH rel AS (
  SELECT n.nspname AS sch, c.oid, c.relname, c.relkind, c.relowner, c.relacl,
         c.relrowsecurity, c.relforcerowsecurity,
         CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
              WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
              ELSE 'table' END AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
), fn AS (
  SELECT n.nspname AS sch, p.oid, p.proowner, p.proacl, p.prosecdef, p.proconfig,
         format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
           AS sig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = ANY(:schemas)
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                    AND d.objid = p.oid AND d.deptype = 'e')
)
SELECT sch, format('owner %s %I.%I: %s', kind, sch, relname, pg_get_userbyid(relowner))
FROM rel
UNION ALL
SELECT r.sch, format('%s %I.%I: %s %s%s', r.kind, r.sch, r.relname,
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
FROM rel r CROSS JOIN LATERAL aclexplode(COALESCE(r.relacl,
     acldefault(CAST(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END AS "char"),
                r.relowner))) a
UNION ALL
SELECT r.sch, format('column %I.%I.%I: %s %s', r.sch, r.relname, t.attname,
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type)
FROM rel r JOIN pg_attribute t ON t.attrelid = r.oid AND t.attnum > 0
     AND NOT t.attisdropped AND t.attacl IS NOT NULL
CROSS JOIN LATERAL aclexplode(t.attacl) a
UNION ALL
SELECT sch, format('row security %I.%I: enabled %s, forced %s', sch, relname,
       relrowsecurity, relforcerowsecurity)
FROM rel WHERE relrowsecurity OR relforcerowsecurity
UNION ALL
SELECT r.sch, format('policy %I.%I.%I: %s %s to %s using %s check %s', r.sch, r.relname,
       p.polname, p.polcmd, CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
       (SELECT string_agg(CASE x WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x) END, ','
                          ORDER BY 1) FROM unnest(p.polroles) x),
       COALESCE(pg_get_expr(p.polqual, p.polrelid), '-'),
       COALESCE(pg_get_expr(p.polwithcheck, p.polrelid), '-'))
FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT r.sch, format('trigger %I.%I.%I: enabled %s, %s', r.sch, r.relname, t.tgname,
       t.tgenabled, pg_get_triggerdef(t.oid))
FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT nspname, format('owner schema %I: %s', nspname, pg_get_userbyid(nspowner))
FROM pg_namespace WHERE nspname = ANY(:schemas)
UNION ALL
SELECT n.nspname, format('schema %I: %s %s%s', n.nspname,
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
FROM pg_namespace n CROSS JOIN LATERAL aclexplode(COALESCE(n.nspacl,
     acldefault('n', n.nspowner))) a
WHERE n.nspname = ANY(:schemas)
UNION ALL
SELECT sch, format('owner function %s: %s', sig, pg_get_userbyid(proowner)) FROM fn
UNION ALL
SELECT sch, format('function %s: security %s, settings %s', sig,
       CASE WHEN prosecdef THEN 'definer' ELSE 'invoker' END,
       COALESCE(array_to_string(proconfig, ' '), '-'))
FROM fn
UNION ALL
SELECT f.sch, format('function %s: %s %s', f.sig,
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type)
FROM fn f CROSS JOIN LATERAL aclexplode(COALESCE(f.proacl, acldefault('f', f.proowner))) a
UNION ALL
SELECT COALESCE(n.nspname, ''), format('default privileges of %s on %s in %s: %s %s',
       pg_get_userbyid(d.defaclrole), d.defaclobjtype, COALESCE(n.nspname, 'all schemas'),
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type)
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) a
WHERE n.nspname = ANY(:schemas) OR (d.defaclnamespace = 0 AND :whole)
UNION ALL
SELECT '', format('owner database: %s', pg_get_userbyid(datdba))
FROM pg_database WHERE datname = current_database() AND :whole
UNION ALL
SELECT '', format('database: %s %s',
       CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type)
FROM pg_database d CROSS JOIN LATERAL aclexplode(COALESCE(d.datacl,
     acldefault('d', d.datdba))) a
WHERE d.datname = current_database() AND :whole
"""


def acl_snapshot(
    conn: Connection, schemas: tuple[str, ...], *, whole: bool
) -> set[tuple[str, str]]:
    """``(schema, entry)`` for every grant, owner, default privilege, role_plan, trigger and
    function setting in ``schemas``; database-wide entries (schema ``""``) when ``whole``.

    Names are printed schema-qualified whatever the caller's ``search_path``.
    """
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    rows = conn.execute(text(_ACL_QUERY), {"schemas": list(schemas), "whole": whole}).all()
    return {(str(schema), str(entry)) for schema, entry in rows}
