"""Role memberships, database-wide settings, other roles' default privileges and the
server's other databases: the role-level state ``grants check`` compares (S22, S24).
"""

from __future__ import annotations

import re

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.errors import PrivilegeError
from medz1.provision.declared import LOGIN_ROLES, MANAGED_ROLES, OWNER, PUBLIC, role_specs
from medz1.provision.difference import Difference

#: Databases every cluster has; medz1's login roles must not reach them (S24).
CLUSTER_DATABASES: tuple[str, ...] = ("postgres", "template1")

_MEMBERSHIPS = """
SELECT m.rolname, r.rolname, g.rolname, a.admin_option,
       COALESCE((to_jsonb(a) ->> 'inherit_option')::boolean, m.rolinherit),
       COALESCE((to_jsonb(a) ->> 'set_option')::boolean, true)
FROM pg_auth_members a
JOIN pg_roles r ON r.oid = a.roleid
JOIN pg_roles m ON m.oid = a.member
LEFT JOIN pg_roles g ON g.oid = a.grantor
WHERE m.rolname = ANY(:managed) OR r.rolname = ANY(:managed)
ORDER BY 1, 2
"""


def membership_differences(conn: Connection) -> list[Difference]:
    """Every membership a managed role holds, or that another role holds in one.

    Managed roles hold no other role (not ``medz1_owner``, not ``pg_read_all_data``,
    ``pg_write_server_files``, ``pg_execute_server_program`` or any other predefined
    role), and nobody but the administrator running medz1 is a member of a managed role.
    """
    admin = str(conn.execute(text("SELECT current_user")).scalar_one())
    rows = conn.execute(text(_MEMBERSHIPS), {"managed": list(MANAGED_ROLES)}).all()
    found = []
    for member, role, grantor, admin_option, inherit, set_ in rows:
        if member == admin and member not in MANAGED_ROLES:
            continue  # the administrator may act as the roles it manages
        options = [
            name
            for name, on in (("ADMIN", admin_option), ("INHERIT", inherit), ("SET", set_))
            if on
        ]
        what = ", ".join(options) or "no options"
        rule = (
            "login roles hold no other role"
            if member in LOGIN_ROLES
            else "only the administrator may be a member of a medz1 role"
            if member not in MANAGED_ROLES
            else "medz1 roles hold no other role"
        )
        statement = sql.SQL("REVOKE {} FROM {}").format(
            sql.Identifier(role), sql.Identifier(member)
        )
        if grantor:
            statement = sql.SQL("{} GRANTED BY {}").format(statement, sql.Identifier(grantor))
        found.append(
            Difference(f"role {member}: is a member of {role} with {what} ({rule})", statement)
        )
    return found


def database_setting_differences(conn: Connection) -> list[Difference]:
    """Settings given to every role in this database (``ALTER DATABASE ... SET``)."""
    rows = conn.execute(
        text(
            """
            SELECT d.datname, s.setconfig FROM pg_db_role_setting s
            JOIN pg_database d ON d.oid = s.setdatabase
            WHERE s.setrole = 0 AND d.datname = current_database()
            """
        )
    ).all()
    found = []
    for database, config in rows:
        for item in config:
            name = item.split("=", 1)[0]
            found.append(
                Difference(
                    f"database {database}: setting {name} for every role (not declared)",
                    sql.SQL("ALTER DATABASE {} RESET {}").format(
                        sql.Identifier(database), sql.Identifier(name)
                    ),
                )
            )
    return found


def foreign_default_privileges(
    conn: Connection, owner: str
) -> list[tuple[str, str, str, str, str]]:
    """Default privileges that roles other than ``owner`` set up and that give managed
    roles or PUBLIC something: ``(role, schema or '*', object type, grantee, privilege)``.

    PostgreSQL's implicit defaults (PUBLIC's EXECUTE on functions, USAGE on types) are
    not entries and not reported.
    """
    rows = conn.execute(
        text(
            """
            SELECT pg_get_userbyid(d.defaclrole), COALESCE(n.nspname, '*'), d.defaclobjtype,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                   a.privilege_type
            FROM pg_default_acl d
            LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
            CROSS JOIN LATERAL aclexplode(d.defaclacl) a
            WHERE d.defaclrole <> (SELECT oid FROM pg_roles WHERE rolname = :owner)
              AND a.grantee <> d.defaclrole
              AND (a.grantee = 0 OR pg_get_userbyid(a.grantee) = ANY(:managed))
            ORDER BY 1, 2, 3, 4, 5
            """
        ),
        {"owner": owner, "managed": list(MANAGED_ROLES)},
    ).all()
    return [(str(r), str(s), str(t), str(g), str(p)) for r, s, t, g, p in rows]


def other_database_differences(conn: Connection, *, repair: bool) -> list[Difference]:
    """CONNECT or TEMPORARY that PUBLIC or a login role holds on ``postgres`` or
    ``template1``; repaired only when medz1 runs the server (``repair``).
    """
    rows = conn.execute(
        text(
            """
            SELECT d.datname,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                   a.privilege_type
            FROM pg_database d
            CROSS JOIN LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
            WHERE d.datname = ANY(:databases) AND a.privilege_type IN ('CONNECT', 'TEMPORARY')
              AND (a.grantee = 0 OR pg_get_userbyid(a.grantee) = ANY(:logins))
            ORDER BY 1, 2, 3
            """
        ),
        {"databases": list(CLUSTER_DATABASES), "logins": list(LOGIN_ROLES)},
    ).all()
    found = []
    for database, grantee, privilege in rows:
        statement = sql.SQL("REVOKE {} ON DATABASE {} FROM {}").format(
            sql.SQL(privilege),
            sql.Identifier(database),
            sql.SQL("PUBLIC") if grantee == PUBLIC else sql.Identifier(grantee),
        )
        note = "" if repair else " (not medz1's database: revoke it yourself)"
        found.append(
            Difference(
                f"{privilege} on database {database} for {grantee}: medz1's login roles "
                f"can reach it{note}",
                statement if repair else None,
            )
        )
    return found


def is_superuser(conn: Connection) -> bool:
    """True when the connected administrator is a superuser."""
    return bool(
        conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    )


def owner_membership_difference(conn: Connection) -> Difference | None:
    """The grant a non-superuser administrator needs to act as ``medz1_owner``.

    PostgreSQL 16+ gives a CREATEROLE role only ADMIN OPTION on the roles it creates
    (unless ``createrole_self_grant`` says more); handing objects to ``medz1_owner``
    (``ALTER ... OWNER TO``), running migrations as it (``SET ROLE``) and granting on its
    objects need SET and INHERIT too, which ADMIN OPTION lets the administrator grant to
    itself. A superuser needs nothing; on PostgreSQL 15 and older a plain membership is
    what CREATEROLE may grant.

    Returns:
        The missing membership with its ``GRANT``, or None when nothing is missing (or
        the owner role does not exist yet: the plan creates it first and asks again).
    """
    if is_superuser(conn):
        return None
    row = conn.execute(
        text(
            """
            SELECT pg_has_role(current_user, r.oid, 'USAGE'), pg_has_role(current_user, r.oid, 'SET'),
                   current_setting('server_version_num')::int
            FROM pg_roles r WHERE r.rolname = :owner
            """
        ),
        {"owner": OWNER},
    ).one_or_none()
    if row is None:
        return None
    usage, set_, version = row
    if usage and set_:
        return None
    options = sql.SQL(" WITH INHERIT TRUE, SET TRUE") if version >= 160000 else sql.SQL("")
    return Difference(
        f"role {OWNER}: this administrator may not act as it (needs SET and INHERIT)",
        sql.SQL("GRANT {} TO CURRENT_USER{}").format(sql.Identifier(OWNER), options),
    )


#: A role attribute in a repair's description ("role X: missing" creates it with its
#: declared attributes; "attributes differ (should be ..., BYPASSRLS)" sets it).
_GIVES_BYPASSRLS = re.compile(r": missing$|\bBYPASSRLS\b")


def _require_bypassrls(conn: Connection, differences: list[Difference]) -> None:
    """Refuse when a repair gives a role BYPASSRLS and the (non-superuser) administrator
    does not hold it: PostgreSQL lets only a role with BYPASSRLS give it (CREATE ROLE,
    ALTER ROLE), and only a superuser can give it to the administrator.
    """
    bypassing = {spec.name for spec in role_specs() if spec.bypassrls}
    wanted = sorted(
        {
            name
            for d in differences
            if d.repair is not None
            for name in bypassing
            if d.description.startswith(f"role {name}:") and _GIVES_BYPASSRLS.search(d.description)
        }
    )
    if not wanted:
        return
    admin, holds = conn.execute(
        text("SELECT current_user, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    if holds:
        return
    raise PrivilegeError(
        f"role(s) {', '.join(wanted)} must hold BYPASSRLS (bulk loads would otherwise run "
        f"under the station row security), and administrator {admin} does not: PostgreSQL "
        "lets only a role with BYPASSRLS give it; nothing was changed",
        hint=f"ask a superuser to run `ALTER ROLE {admin} BYPASSRLS` (once; managed services "
        "give it to their administrator), then run the command again",
    )


def require_role_admin(conn: Connection, differences: list[Difference]) -> None:
    """Refuse, before anything changes, when a repair in ``differences`` changes a medz1
    role that a non-superuser administrator may not manage.

    With CREATEROLE (PostgreSQL 16+), changing a role's attributes, password or settings,
    and granting it, needs ADMIN OPTION on that role; the administrator that created the
    role holds it, any other one does not.

    Raises:
        PrivilegeError: the administrator holds no ADMIN OPTION on a role it must change,
            or must give BYPASSRLS without holding it; names the roles and the statement
            that gives the administrator what it lacks.
    """
    touched = sorted(
        {
            name
            for d in differences
            if d.repair is not None
            for name in MANAGED_ROLES
            if d.description.startswith(f"role {name}:")
        }
    )
    if not touched or is_superuser(conn):
        return
    _require_bypassrls(conn, differences)
    rows = conn.execute(
        text(
            """
            SELECT r.rolname FROM pg_roles r
            WHERE r.rolname = ANY(:names)
              AND NOT pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION')
            ORDER BY 1
            """
        ),
        {"names": touched},
    ).scalars()
    missing = [str(name) for name in rows]
    if not missing:
        return
    admin = str(conn.execute(text("SELECT current_user")).scalar_one())
    grants = "; ".join(f"GRANT {name} TO {admin} WITH ADMIN OPTION" for name in missing)
    raise PrivilegeError(
        f"administrator {admin} is not a superuser and may not change role(s) "
        f"{', '.join(missing)} (created by another role: it holds no ADMIN OPTION on them); "
        "nothing was changed",
        hint=f"ask the role that created them, or a superuser, to run: {grants}",
    )
