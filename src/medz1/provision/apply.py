"""Compare the declared policy with the database, report each difference, and repair them.

:func:`plan` is the single comparison: it returns every difference with the statement
that repairs it. :func:`check_grants` reports the differences; :func:`apply_grants`
executes the repairs in the caller's transaction, so a failure leaves nothing
half-applied. Every identifier goes through ``psycopg.sql``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.errors import PrivilegeError
from medz1.provision import inspect
from medz1.provision.policy import (
    DATABASE_PRIVILEGES,
    LOGIN_ROLES,
    OWNER,
    PASSWORD_COLUMN,
    PUBLIC,
    SCHEMA_PRIVILEGES,
    TABLE_PRIVILEGES,
    Matrix,
    RoleSpec,
)
from medz1.provision.scram import verifier_matches

log = logging.getLogger(__name__)

_FORBIDDEN_ATTRIBUTES = ("superuser", "replication", "bypassrls")
_GRANTEES = (*LOGIN_ROLES, PUBLIC)
_OBJECT_KEYWORD = {"table": "TABLE", "sequence": "SEQUENCE", "schema": "SCHEMA"}


@dataclass(frozen=True)
class Difference:
    """One way the database departs from the policy, and the statement that repairs it."""

    description: str
    repair: sql.Composed | None = None


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == PUBLIC else sql.Identifier(name)


def _qualified(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


@dataclass
class _Planner:
    conn: Connection
    matrix: Matrix
    specs: tuple[RoleSpec, ...]
    passwords: dict[str, SecretStr]
    found: list[Difference] = field(default_factory=list)

    @property
    def database(self) -> str:
        return str(self.conn.execute(text("SELECT current_database()")).scalar_one())

    def add(self, description: str, repair: sql.Composed | None) -> None:
        self.found.append(Difference(description, repair))

    # -- roles ------------------------------------------------------------------------

    def roles(self) -> None:
        states = inspect.roles(self.conn, tuple(s.name for s in self.specs))
        for spec in self.specs:
            state = states.get(spec.name)
            if state is None:
                self.add(f"role {spec.name}: missing", _role_statement(spec, create=True))
            else:
                self._role_attributes(spec, state)
            self._password(spec, state)
            self._settings(spec, state)
        self._memberships()

    def _role_attributes(self, spec: RoleSpec, state: inspect.RoleState) -> None:
        forbidden = [a.upper() for a in _FORBIDDEN_ATTRIBUTES if getattr(state, a)]
        if forbidden:
            raise PrivilegeError(
                f"role {spec.name} already exists with {', '.join(forbidden)}; medz1 will "
                "not take over or demote such a role",
                hint=f"drop or rename that role, or run ALTER ROLE {spec.name} "
                + " ".join(f"NO{a}" for a in forbidden)
                + " yourself, then run again",
            )
        limit = spec.limits.connection_limit if spec.limits else -1
        wrong = [
            name
            for name, bad in (
                ("LOGIN" if spec.login else "NOLOGIN", state.login != spec.login),
                ("NOCREATEROLE", state.createrole),
                ("NOCREATEDB", state.createdb),
                (f"CONNECTION LIMIT {limit}", state.connection_limit != limit),
            )
            if bad
        ]
        if wrong:
            self.add(
                f"role {spec.name}: attributes differ (should be {', '.join(wrong)})",
                _role_statement(spec, create=False),
            )
        if spec.login and state.password_is_scram is False:
            self.add(f"role {spec.name}: password is not a SCRAM-SHA-256 verifier", None)

    def _password(self, spec: RoleSpec, state: inspect.RoleState | None) -> None:
        password = self.passwords.get(spec.name)
        if not spec.login or password is None:
            return
        if state is not None and state.password_is_scram:
            verifier = self.conn.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": spec.name}
            ).scalar()
            if verifier and verifier_matches(str(verifier), password.get_secret_value()):
                return
        # libpq computes the verifier, so the password itself never reaches the server.
        pgconn = self.conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        verifier_bytes: bytes = pgconn.encrypt_password(
            password.get_secret_value().encode(), spec.name.encode(), b"scram-sha-256"
        )
        self.add(
            f"role {spec.name}: password is not the configured one",
            sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(spec.name), sql.Literal(verifier_bytes.decode())
            ),
        )

    def _settings(self, spec: RoleSpec, state: inspect.RoleState | None) -> None:
        if spec.limits is None:
            return
        wanted = {
            "statement_timeout": str(spec.limits.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(spec.limits.idle_in_transaction_timeout_ms),
        }
        current = state.settings if state is not None else {}
        database = sql.Identifier(self.database)
        for name, value in wanted.items():
            if current.get(name) != value:
                self.add(
                    f"role {spec.name}: {name} is {current.get(name, 'unset')}, should be {value}",
                    sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                        sql.Identifier(spec.name),
                        database,
                        sql.Identifier(name),
                        sql.Literal(value),
                    ),
                )
        for name in sorted(set(current) - set(wanted)):
            self.add(
                f"role {spec.name}: unexpected setting {name} (search_path and others stay default)",
                sql.SQL("ALTER ROLE {} IN DATABASE {} RESET {}").format(
                    sql.Identifier(spec.name), database, sql.Identifier(name)
                ),
            )

    def _memberships(self) -> None:
        rows = self.conn.execute(
            text(
                """
                SELECT m.rolname, r.rolname FROM pg_auth_members a
                JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
                WHERE m.rolname = ANY(:logins)
                """
            ),
            {"logins": list(LOGIN_ROLES)},
        ).all()
        for member, role in rows:
            self.add(
                f"role {member}: is a member of {role} (login roles hold no other role)",
                sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(role), sql.Identifier(member)),
            )

    # -- ownership --------------------------------------------------------------------

    def ownership(self) -> None:
        for obj, owner in sorted(inspect.owners(self.conn, self.matrix.schemas).items()):
            if owner == OWNER:
                continue
            kind, _, name = obj.partition(":")
            if kind == "database":
                target: sql.Composable = sql.SQL("DATABASE {}").format(
                    sql.Identifier(self.database)
                )
            elif kind == "function":
                target = sql.SQL("FUNCTION {}").format(sql.SQL(name))  # regprocedure text
            else:
                target = sql.SQL("{} {}").format(
                    sql.SQL(_OBJECT_KEYWORD[kind]),
                    sql.Identifier(name) if kind == "schema" else _qualified(name),
                )
            self.add(
                f"{kind} {name or self.database}: owned by {owner}, should be {OWNER}",
                sql.SQL("ALTER {} OWNER TO {}").format(target, sql.Identifier(OWNER)),
            )

    # -- privileges -------------------------------------------------------------------

    def privileges(self) -> None:
        held = (
            inspect.table_privileges(self.conn, LOGIN_ROLES, self.matrix.tables)
            | inspect.schema_privileges(self.conn, LOGIN_ROLES, self.matrix.schemas)
            | inspect.database_privileges(self.conn, LOGIN_ROLES)
        )
        existing = self._existing_tables()
        universe = [
            *((f"table:{t}", TABLE_PRIVILEGES) for t in self.matrix.tables if t in existing),
            *((f"schema:{s}", SCHEMA_PRIVILEGES) for s in self.matrix.schemas),
            ("database", DATABASE_PRIVILEGES),
        ]
        for obj, privileges in universe:
            for grantee in _GRANTEES:
                for privilege in privileges:
                    declared = self.matrix.allowed(grantee, obj, privilege)
                    actual = (grantee, obj, privilege) in held
                    if declared != actual:
                        self._privilege_difference(grantee, obj, privilege, declared)
        self._password_column()

    def _existing_tables(self) -> set[str]:
        rows = self.conn.execute(
            text("SELECT t FROM unnest(CAST(:t AS text[])) t WHERE to_regclass(t) IS NOT NULL"),
            {"t": list(self.matrix.tables)},
        ).scalars()
        return set(rows)

    def _privilege_difference(self, grantee: str, obj: str, privilege: str, grant: bool) -> None:
        kind, _, name = obj.partition(":")
        if kind == "database":
            target: sql.Composable = sql.SQL("DATABASE {}").format(sql.Identifier(self.database))
        elif kind == "schema":
            target = sql.SQL("SCHEMA {}").format(sql.Identifier(name))
        else:
            target = sql.SQL("TABLE {}").format(_qualified(name))
        template = "GRANT {} ON {} TO {}" if grant else "REVOKE {} ON {} FROM {}"
        state = "missing" if grant else "granted but not declared"
        self.add(
            f"{privilege} on {name or self.database} for {grantee}: {state}",
            sql.SQL(template).format(sql.SQL(privilege), target, _grantee(grantee)),
        )

    def _password_column(self) -> None:
        schema, table, column = PASSWORD_COLUMN
        if f"{schema}.{table}" not in self._existing_tables():
            return
        for role in LOGIN_ROLES:
            readable = inspect.column_privilege(self.conn, role, schema, table, column)
            table_level = self.matrix.allowed(role, f"table:{schema}.{table}", "SELECT")
            if readable and not table_level:
                self.add(
                    f"column {schema}.{table}.{column}: readable by {role}",
                    sql.SQL("REVOKE SELECT ({}) ON {} FROM {}").format(
                        sql.Identifier(column),
                        sql.Identifier(schema, table),
                        sql.Identifier(role),
                    ),
                )

    # -- default privileges and functions ---------------------------------------------

    def defaults(self) -> None:
        actual = inspect.default_privileges(self.conn, OWNER)
        declared = set(self.matrix.default_privileges)
        for schema, _objtype, grantee, privilege in sorted(declared - actual):
            self.add(
                f"default {privilege} on new tables in {schema} for {grantee}: missing",
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON TABLES TO {}"
                ).format(
                    sql.Identifier(OWNER),
                    sql.Identifier(schema),
                    sql.SQL(privilege),
                    _grantee(grantee),
                ),
            )
        for schema, objtype, grantee, privilege in sorted(actual - declared):
            kind = {
                "r": "TABLES",
                "S": "SEQUENCES",
                "f": "FUNCTIONS",
                "T": "TYPES",
                "n": "SCHEMAS",
            }.get(objtype, "TABLES")
            scope = (
                sql.SQL("")
                if schema == "*"
                else sql.SQL(" IN SCHEMA {}").format(sql.Identifier(schema))
            )
            self.add(
                f"default {privilege} on new {kind.lower()} in {schema} for {grantee}: "
                "granted but not declared",
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {} ON {} FROM {}").format(
                    sql.Identifier(OWNER),
                    scope,
                    sql.SQL(privilege),
                    sql.SQL(kind),
                    _grantee(grantee),
                ),
            )
        if inspect.public_executes_new_functions(self.conn, OWNER):
            self.add(
                "default EXECUTE on new functions for PUBLIC: granted but not declared",
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
                ).format(sql.Identifier(OWNER)),
            )

    def functions(self) -> None:
        for signature, definer, pinned, public in inspect.functions(self.conn, self.matrix.schemas):
            if not pinned:
                self.add(f"function {signature}: does not pin search_path", None)
            if public:
                self.add(
                    f"function {signature}: executable by PUBLIC",
                    sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(sql.SQL(signature)),
                )
            if definer and not pinned:
                self.add(f"function {signature}: SECURITY DEFINER without search_path", None)


def _role_statement(spec: RoleSpec, *, create: bool) -> sql.Composed:
    limit = spec.limits.connection_limit if spec.limits else -1
    return sql.SQL(
        "{verb} {name} WITH {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        "NOBYPASSRLS INHERIT CONNECTION LIMIT {limit}"
    ).format(
        verb=sql.SQL("CREATE ROLE" if create else "ALTER ROLE"),
        name=sql.Identifier(spec.name),
        login=sql.SQL("LOGIN" if spec.login else "NOLOGIN"),
        limit=sql.Literal(limit),
    )


def plan_roles(
    conn: Connection,
    matrix: Matrix,
    specs: tuple[RoleSpec, ...],
    passwords: dict[str, SecretStr],
) -> list[Difference]:
    """Differences in roles (attributes, passwords, limits, memberships) and ownership:
    what must hold before migrations run as the owner."""
    planner = _Planner(conn, matrix, specs, passwords)
    planner.roles()
    planner.ownership()
    return planner.found


def plan(
    conn: Connection,
    matrix: Matrix,
    specs: tuple[RoleSpec, ...],
    passwords: dict[str, SecretStr] | None = None,
) -> list[Difference]:
    """Every difference between the policy and the database, in the order to repair them."""
    planner = _Planner(conn, matrix, specs, passwords or {})
    planner.roles()
    planner.ownership()
    planner.privileges()
    planner.defaults()
    planner.functions()
    return planner.found


def execute(conn: Connection, differences: list[Difference]) -> list[str]:
    """Run the repairs of ``differences`` on ``conn``; return what was repaired.

    Differences without a repair are left for a human and not counted.
    """
    raw = conn.connection.dbapi_connection
    done = []
    for difference in differences:
        if difference.repair is None:
            continue
        conn.exec_driver_sql(difference.repair.as_string(raw))  # type: ignore[arg-type]
        log.info("repaired: %s", difference.description)
        done.append(difference.description)
    return done
