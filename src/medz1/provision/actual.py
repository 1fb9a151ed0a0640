"""Read the privileges, owners and role attributes a database actually has.

Named roles are asked with ``has_*_privilege`` (the effective answer PostgreSQL gives,
through PUBLIC and role membership too); PUBLIC is read from the ACLs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.provision.declared import (
    DATABASE_PRIVILEGES,
    PUBLIC,
    SCHEMA_PRIVILEGES,
    TABLE_PRIVILEGES,
)


@dataclass(frozen=True)
class RoleState:
    """Attributes of one existing role."""

    name: str
    login: bool
    superuser: bool
    createrole: bool
    createdb: bool
    bypassrls: bool
    replication: bool
    inherit: bool
    connection_limit: int
    password_is_scram: bool | None  # None when pg_authid cannot be read
    settings: dict[str, str]
    valid_until: str | None = None  # text of rolvaliduntil; None when unset
    global_settings: dict[str, str] = field(default_factory=dict)  # ALTER ROLE ... SET


def roles(conn: Connection, names: tuple[str, ...]) -> dict[str, RoleState]:
    """The existing roles among ``names``, with attributes and per-database settings."""
    can_read_authid = bool(
        conn.execute(text("SELECT has_table_privilege('pg_authid', 'SELECT')")).scalar()
    )
    password_expr = (
        "(SELECT a.rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid a WHERE a.oid = r.oid)"
        if can_read_authid
        else "NULL::boolean"
    )
    rows = conn.execute(
        text(
            f"""
            SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                   r.rolbypassrls, r.rolreplication, r.rolinherit, r.rolconnlimit,
                   {password_expr},
                   COALESCE((SELECT s.setconfig FROM pg_db_role_setting s
                             JOIN pg_database d ON d.oid = s.setdatabase
                             WHERE s.setrole = r.oid AND d.datname = current_database()),
                            '{{}}'),
                   r.rolvaliduntil::text,
                   COALESCE((SELECT s.setconfig FROM pg_db_role_setting s
                             WHERE s.setrole = r.oid AND s.setdatabase = 0), '{{}}')
            FROM pg_roles r WHERE r.rolname = ANY(:names)
            """  # the interpolated part is one of two constant expressions
        ),
        {"names": list(names)},
    ).all()
    found = {}
    for row in rows:
        found[row[0]] = RoleState(
            name=row[0],
            login=row[1],
            superuser=row[2],
            createrole=row[3],
            createdb=row[4],
            bypassrls=row[5],
            replication=row[6],
            inherit=row[7],
            connection_limit=row[8],
            password_is_scram=row[9],
            settings=dict(item.split("=", 1) for item in row[10]),
            valid_until=row[11],
            global_settings=dict(item.split("=", 1) for item in row[12]),
        )
    return found


def table_privileges(
    conn: Connection, roles_: tuple[str, ...], tables: tuple[str, ...]
) -> set[tuple[str, str, str]]:
    """Cells ``(grantee, "table:<schema.table>", privilege)`` that hold, PUBLIC included."""
    held: set[tuple[str, str, str]] = set()
    rows = conn.execute(
        text(
            """
            SELECT r.rolname, t.name, p.privilege
            FROM unnest(CAST(:tables AS text[])) AS t(name)
            JOIN pg_class c ON c.oid = to_regclass(t.name)
            CROSS JOIN unnest(CAST(:roles AS text[])) AS r(rolname)
            CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)
            WHERE EXISTS (SELECT 1 FROM pg_roles x WHERE x.rolname = r.rolname)
              AND has_table_privilege(r.rolname, c.oid, p.privilege)
            """
        ),
        {"tables": list(tables), "roles": list(roles_), "privileges": list(TABLE_PRIVILEGES)},
    ).all()
    held.update((role, f"table:{table}", privilege) for role, table, privilege in rows)
    public_rows = conn.execute(
        text(
            """
            SELECT t.name, a.privilege_type
            FROM unnest(CAST(:tables AS text[])) AS t(name)
            JOIN pg_class c ON c.oid = to_regclass(t.name)
            CROSS JOIN LATERAL aclexplode(c.relacl) a
            WHERE a.grantee = 0
            """
        ),
        {"tables": list(tables)},
    ).all()
    held.update((PUBLIC, f"table:{table}", privilege) for table, privilege in public_rows)
    return held


def column_privilege(conn: Connection, role: str, schema: str, table: str, column: str) -> bool:
    """Whether ``role`` may SELECT one column (through a table or a column grant)."""
    return bool(
        conn.execute(
            text("SELECT has_column_privilege(:role, to_regclass(:table), :column, 'SELECT')"),
            {"role": role, "table": f"{schema}.{table}", "column": column},
        ).scalar()
    )


def schema_privileges(
    conn: Connection, roles_: tuple[str, ...], schemas: tuple[str, ...]
) -> set[tuple[str, str, str]]:
    """Cells ``(grantee, "schema:<name>", privilege)`` that hold, PUBLIC included."""
    rows = conn.execute(
        text(
            """
            SELECT r.rolname, n.nspname, p.privilege
            FROM pg_namespace n
            CROSS JOIN unnest(CAST(:roles AS text[])) AS r(rolname)
            CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)
            WHERE n.nspname = ANY(:schemas)
              AND EXISTS (SELECT 1 FROM pg_roles x WHERE x.rolname = r.rolname)
              AND has_schema_privilege(r.rolname, n.oid, p.privilege)
            UNION ALL
            SELECT 'PUBLIC', n.nspname, a.privilege_type
            FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
            WHERE n.nspname = ANY(:schemas) AND a.grantee = 0
            """
        ),
        {"roles": list(roles_), "privileges": list(SCHEMA_PRIVILEGES), "schemas": list(schemas)},
    ).all()
    return {(role, f"schema:{schema}", privilege) for role, schema, privilege in rows}


def database_privileges(conn: Connection, roles_: tuple[str, ...]) -> set[tuple[str, str, str]]:
    """Cells ``(grantee, "database", privilege)`` on the current database, PUBLIC included.

    A database whose ACL was never set grants CONNECT and TEMPORARY to PUBLIC implicitly;
    ``acldefault`` makes that visible.
    """
    rows = conn.execute(
        text(
            """
            SELECT r.rolname, p.privilege
            FROM unnest(CAST(:roles AS text[])) AS r(rolname)
            CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)
            WHERE EXISTS (SELECT 1 FROM pg_roles x WHERE x.rolname = r.rolname)
              AND has_database_privilege(r.rolname, current_database(), p.privilege)
            UNION ALL
            SELECT 'PUBLIC', a.privilege_type
            FROM pg_database d
            CROSS JOIN LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
            WHERE d.datname = current_database() AND a.grantee = 0
            """
        ),
        {"roles": list(roles_), "privileges": list(DATABASE_PRIVILEGES)},
    ).all()
    return {(role, "database", privilege) for role, privilege in rows}


def owners(conn: Connection, schemas: tuple[str, ...]) -> dict[str, str]:
    """Owner of the database, of each schema, and of each relation and function in them."""
    rows = conn.execute(
        text(
            """
            SELECT 'database', pg_get_userbyid(datdba) FROM pg_database
            WHERE datname = current_database()
            UNION ALL
            SELECT 'schema:' || nspname, pg_get_userbyid(nspowner) FROM pg_namespace
            WHERE nspname = ANY(:schemas)
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'sequence:' ELSE 'table:' END
                   || n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              -- extension members and identity/serial sequences follow their parent
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                              AND d.classid = 'pg_class'::regclass
                              AND d.deptype IN ('e', 'i', 'a'))
            UNION ALL
            SELECT 'function:' || p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY(:schemas)
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid
                              AND d.deptype = 'e')
            """
        ),
        {"schemas": list(schemas)},
    ).all()
    return {str(obj): str(owner) for obj, owner in rows}


def default_privileges(conn: Connection, owner: str) -> set[tuple[str, str, str, str]]:
    """Default privileges ``(schema, object type, grantee, privilege)`` for tables ``owner``
    creates, without the owner's own implicit entries.
    """
    rows = conn.execute(
        text(
            """
            SELECT COALESCE(n.nspname, '*'), d.defaclobjtype,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                   a.privilege_type
            FROM pg_default_acl d
            LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
            CROSS JOIN LATERAL aclexplode(d.defaclacl) a
            WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = :owner)
              AND a.grantee <> d.defaclrole
            """
        ),
        {"owner": owner},
    ).all()
    return {(str(s), str(t), str(g), str(p)) for s, t, g, p in rows}


def functions(conn: Connection, schemas: tuple[str, ...]) -> list[tuple[str, bool, str | None]]:
    """Functions in ``schemas``: (signature, security definer, pinned search_path or None)."""
    rows = conn.execute(
        text(
            """
            SELECT p.oid::regprocedure::text, p.prosecdef,
                   (SELECT substr(c, length('search_path=') + 1) FROM unnest(p.proconfig) c
                    WHERE c LIKE 'search_path=%' LIMIT 1)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY(:schemas)
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid
                              AND d.deptype = 'e')
            ORDER BY 1
            """
        ),
        {"schemas": list(schemas)},
    ).all()
    return [(str(sig), bool(sd), None if path is None else str(path)) for sig, sd, path in rows]


def public_executes_new_functions(conn: Connection, owner: str) -> bool:
    """Whether PUBLIC may execute functions ``owner`` creates from now on.

    Without a global default-privilege entry, PostgreSQL grants EXECUTE to PUBLIC.
    """
    row = conn.execute(
        text(
            """
            SELECT d.defaclacl FROM pg_default_acl d
            WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = :owner)
              AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f'
            """
        ),
        {"owner": owner},
    ).first()
    if row is None:
        return True
    return bool(
        conn.execute(
            text(
                """
                SELECT EXISTS (SELECT 1 FROM pg_default_acl d, aclexplode(d.defaclacl) a
                WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = :owner)
                  AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f' AND a.grantee = 0)
                """
            ),
            {"owner": owner},
        ).scalar()
    )
