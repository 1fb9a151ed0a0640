"""Every explicit ACL entry on the objects medz1 declares, compared with the matrix.

``has_*_privilege`` answers the table, schema and database cells of the matrix; this module
reads the ACLs themselves (``aclexplode``) for everything else PostgreSQL can grant:
column grants (``pg_attribute.attacl``), EXECUTE (``pg_proc.proacl``, PUBLIC's implicit
EXECUTE included), sequences, types, large objects, foreign servers and wrappers,
parameters (``pg_parameter_acl``), grants to roles medz1 does not manage, and every grant
WITH GRANT OPTION (security requirements S22-S24).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.provision.declared import MANAGED_ROLES, PUBLIC, Matrix
from medz1.provision.difference import Difference

#: Objects whose plain grants to managed roles and PUBLIC are compared cell by cell
#: elsewhere (effective privileges); here only foreign grantees and grant options count.
_CELL_KINDS = frozenset({"table", "schema", "database"})

_ENTRIES = """
WITH objs(kind, target, label, col, owner, acl) AS (
    SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END,
           format(CASE WHEN c.relkind = 'S' THEN 'SEQUENCE %I.%I' ELSE 'TABLE %I.%I' END,
                  n.nspname, c.relname),
           n.nspname || '.' || c.relname, NULL::text, c.relowner, c.relacl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND c.relacl IS NOT NULL
    UNION ALL
    SELECT 'column', format('TABLE %I.%I', n.nspname, c.relname),
           n.nspname || '.' || c.relname || '.' || a.attname, quote_ident(a.attname),
           c.relowner, a.attacl
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(:schemas) AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attacl IS NOT NULL
    UNION ALL
    SELECT 'function', format('ROUTINE %s', p.oid::regprocedure), p.oid::regprocedure::text,
           NULL, p.proowner, COALESCE(p.proacl, acldefault('f', p.proowner))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ANY(:schemas)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'schema', format('SCHEMA %I', n.nspname), n.nspname, NULL, n.nspowner, n.nspacl
    FROM pg_namespace n WHERE n.nspname = ANY(:schemas) AND n.nspacl IS NOT NULL
    UNION ALL
    SELECT 'type', format('TYPE %s', t.oid::regtype), t.oid::regtype::text, NULL,
           t.typowner, t.typacl
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY(:schemas) AND t.typacl IS NOT NULL
    UNION ALL
    SELECT 'database', format('DATABASE %I', d.datname), d.datname, NULL, d.datdba,
           COALESCE(d.datacl, acldefault('d', d.datdba))
    FROM pg_database d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'large object', format('LARGE OBJECT %s', l.oid), l.oid::text, NULL,
           l.lomowner, l.lomacl
    FROM pg_largeobject_metadata l WHERE l.lomacl IS NOT NULL
    UNION ALL
    SELECT 'foreign server', format('FOREIGN SERVER %I', s.srvname), s.srvname, NULL,
           s.srvowner, s.srvacl
    FROM pg_foreign_server s WHERE s.srvacl IS NOT NULL
    UNION ALL
    SELECT 'foreign-data wrapper', format('FOREIGN DATA WRAPPER %I', w.fdwname), w.fdwname,
           NULL, w.fdwowner, w.fdwacl
    FROM pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL
    UNION ALL
    SELECT 'parameter', format('PARAMETER %s', p.parname), p.parname, NULL,
           NULL::oid, p.paracl
    FROM pg_parameter_acl p WHERE p.paracl IS NOT NULL
)
SELECT o.kind, o.target, o.label, o.col,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
       a.privilege_type, a.is_grantable, COALESCE(a.grantee = o.owner, false)
FROM objs o CROSS JOIN LATERAL aclexplode(o.acl) a
ORDER BY 1, 3, 5, 6
"""


@dataclass(frozen=True)
class AclEntry:
    """One exploded ACL entry: ``privilege`` on an object for ``grantee``."""

    kind: str
    target: str  # the object as GRANT/REVOKE name it, quoted by the server
    label: str
    column: str | None
    grantee: str
    privilege: str
    grantable: bool
    by_owner: bool


def entries(conn: Connection, schemas: tuple[str, ...]) -> list[AclEntry]:
    """Every ACL entry on medz1's objects, with PUBLIC's implicit ones where PostgreSQL
    grants them by default (functions, the database).
    """
    rows = conn.execute(text(_ENTRIES), {"schemas": list(schemas)}).all()
    return [AclEntry(*row) for row in rows]


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == PUBLIC else sql.Identifier(name)


def _privilege(entry: AclEntry) -> sql.Composable:
    if entry.column is None:
        return sql.SQL(entry.privilege)
    return sql.SQL("{} ({})").format(sql.SQL(entry.privilege), sql.SQL(entry.column))


def _revoke(entry: AclEntry, *, grant_option: bool = False) -> sql.Composed:
    template = (
        "REVOKE GRANT OPTION FOR {} ON {} FROM {} CASCADE"
        if grant_option
        else ("REVOKE {} ON {} FROM {} CASCADE")
    )
    return sql.SQL(template).format(
        _privilege(entry), sql.SQL(entry.target), _grantee(entry.grantee)
    )


def _what(entry: AclEntry) -> str:
    if entry.column is not None:
        table, _, column = entry.label.rpartition(".")
        return f"{entry.privilege} ({column}) on {table}"
    return f"{entry.privilege} on {entry.kind} {entry.label}"


def _declared(matrix: Matrix, entry: AclEntry) -> bool:
    if entry.kind == "function":
        return matrix.allowed(entry.grantee, f"function:{entry.label}", entry.privilege)
    if entry.kind == "type":
        # Every type is usable by PUBLIC unless revoked: PostgreSQL's default, harmless.
        return entry.grantee == PUBLIC and entry.privilege == "USAGE"
    return False


def plan(
    conn: Connection, matrix: Matrix, *, skip_labels: frozenset[str] = frozenset()
) -> list[Difference]:
    """Differences in explicit ACL entries: undeclared grants, grant options, and the
    declared EXECUTE cells that are missing.

    Objects (and the columns of tables) named in ``skip_labels`` are left out: another
    application's objects in a database medz1 adopted.
    """
    found: list[Difference] = []
    held_functions: set[tuple[str, str]] = set()
    for entry in entries(conn, matrix.schemas):
        if entry.by_owner:
            continue
        if skip_labels and (
            entry.label in skip_labels
            or (entry.column is not None and entry.label.rpartition(".")[0] in skip_labels)
        ):
            continue
        if entry.kind == "function":
            held_functions.add((entry.grantee, entry.label))
        if entry.grantable:
            found.append(
                Difference(
                    f"{_what(entry)} for {entry.grantee}: WITH GRANT OPTION (not declared)",
                    _revoke(entry, grant_option=True),
                )
            )
        managed = entry.grantee in MANAGED_ROLES or entry.grantee == PUBLIC
        if entry.kind in _CELL_KINDS and managed:
            continue
        if entry.kind == "parameter" and not managed:
            continue  # the server's administrators' business, not medz1's
        if _declared(matrix, entry):
            continue
        if entry.kind == "function" and entry.grantee == PUBLIC:
            description = f"function {entry.label}: executable by PUBLIC"
        elif not managed:
            description = (
                f"{_what(entry)} for {entry.grantee}: granted to a role medz1 does not manage"
            )
        else:
            description = f"{_what(entry)} for {entry.grantee}: granted but not declared"
        found.append(Difference(description, _revoke(entry)))
    found.extend(_missing_executes(conn, matrix, held_functions))
    return found


def _missing_executes(
    conn: Connection, matrix: Matrix, held: set[tuple[str, str]]
) -> list[Difference]:
    wanted = sorted(
        (grantee, obj.removeprefix("function:"))
        for grantee, obj, privilege in matrix.cells
        if obj.startswith("function:") and privilege == "EXECUTE"
    )
    found = []
    for grantee, signature in wanted:
        if (grantee, signature) in held:
            continue
        exists = conn.execute(
            text("SELECT to_regprocedure(:s) IS NOT NULL"), {"s": signature}
        ).scalar()
        if not exists:
            continue  # the catalog check reports a missing function
        found.append(
            Difference(
                f"EXECUTE on function {signature} for {grantee}: missing",
                sql.SQL("GRANT EXECUTE ON ROUTINE {} TO {}").format(
                    sql.SQL(signature), _grantee(grantee)
                ),
            )
        )
    return found
