"""Compare the declared role plan with the database, report each difference, and repair them.

:func:`plan` is the single comparison: it returns every difference with the statement
that repairs it. :func:`check_grants` reports the differences; :func:`apply_grants`
executes the repairs in the caller's transaction, so a failure leaves nothing
half-applied. Every identifier goes through ``psycopg.sql``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import psycopg
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.provision import acl, actual, catalog, cluster, objects
from medz1.provision.declared import (
    ADOPTED_MARKER,
    DATABASE_PRIVILEGES,
    DEFINER_SEARCH_PATH,
    FUNCTION_EXECUTE,
    LOGIN_ROLES,
    OWNER,
    PASSWORD_COLUMN,
    PUBLIC,
    SCHEMA_PRIVILEGES,
    TABLE_PRIVILEGES,
    Matrix,
    RoleSpec,
    RowPolicy,
)
from medz1.provision.difference import Difference
from medz1.provision.scram import verifier_matches

log = logging.getLogger(__name__)

__all__ = ["Difference", "execute", "password_differences", "plan", "plan_roles"]

_GRANTEES = (*LOGIN_ROLES, PUBLIC)
_OBJECT_KEYWORD = {"table": "TABLE", "sequence": "SEQUENCE", "schema": "SCHEMA"}
#: ``pg_identify_object`` type -> the ALTER ... OWNER TO keyword, for objects that
#: ``actual.owners`` does not already cover.
_OWNED_KEYWORD = {
    "type": "TYPE",
    "composite type": "TYPE",
    "domain": "DOMAIN",
    "collation": "COLLATION",
    "conversion": "CONVERSION",
    "operator": "OPERATOR",
    "operator class": "OPERATOR CLASS",
    "operator family": "OPERATOR FAMILY",
    "text search configuration": "TEXT SEARCH CONFIGURATION",
    "text search dictionary": "TEXT SEARCH DICTIONARY",
    "statistics object": "STATISTICS",
    "server": "SERVER",
    "foreign-data wrapper": "FOREIGN DATA WRAPPER",
    "large object": "LARGE OBJECT",
    "publication": "PUBLICATION",
}
_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}


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
    other_databases: str = "skip"
    compare_passwords: bool = True
    rotate: bool = False
    #: True on a server medz1 does not run: role properties its administrator sets on
    #: purpose (password expiry) are reported, not reset.
    external: bool = False

    @property
    def database(self) -> str:
        return str(self.conn.execute(text("SELECT current_database()")).scalar_one())

    def add(self, description: str, repair: sql.Composed | None) -> None:
        self.found.append(Difference(description, repair))

    # -- roles ------------------------------------------------------------------------

    def roles(self) -> None:
        states = actual.roles(self.conn, tuple(s.name for s in self.specs))
        for spec in self.specs:
            state = states.get(spec.name)
            if state is None:
                self.add(f"role {spec.name}: missing", _role_statement(spec, create=True))
            else:
                self._role_attributes(spec, state)
            self._password(spec, state)
            self._settings(spec, state)
        self._memberships()
        self._administrator()

    def _role_attributes(self, spec: RoleSpec, state: actual.RoleState) -> None:
        limit = spec.limits.connection_limit if spec.limits else -1
        expiry_set = state.valid_until not in (None, "infinity")
        # On a server medz1 does not run, an expiry date is the server administrator's
        # password role_plan: reported, never reset.
        keep_expiry = self.external and expiry_set
        wrong = [
            name
            for name, bad in (
                ("LOGIN" if spec.login else "NOLOGIN", state.login != spec.login),
                ("NOSUPERUSER", state.superuser),
                ("NOCREATEROLE", state.createrole),
                ("NOCREATEDB", state.createdb),
                (
                    "BYPASSRLS" if spec.bypassrls else "NOBYPASSRLS",
                    state.bypassrls != spec.bypassrls,
                ),
                ("NOREPLICATION", state.replication),
                ("INHERIT", not state.inherit),
                (f"CONNECTION LIMIT {limit}", state.connection_limit != limit),
                ("VALID UNTIL 'infinity'", expiry_set and not keep_expiry),
            )
            if bad
        ]
        if wrong:
            self.add(
                f"role {spec.name}: attributes differ (should be {', '.join(wrong)})",
                # Only what differs: a non-superuser administrator may not even name
                # SUPERUSER, and REPLICATION or BYPASSRLS only when it holds them.
                sql.SQL("ALTER ROLE {} WITH {}").format(
                    sql.Identifier(spec.name), sql.SQL(" ").join(sql.SQL(w) for w in wrong)
                ),
            )
        if keep_expiry:
            self.add(
                f"role {spec.name}: VALID UNTIL {state.valid_until} set on the server (left "
                "unchanged on a server medz1 does not run; reset it by hand if not wanted)",
                None,
            )
        if spec.login and state.password_is_scram is False:
            self.add(f"role {spec.name}: password is not a SCRAM-SHA-256 verifier", None)

    def _password(self, spec: RoleSpec, state: actual.RoleState | None) -> None:
        """Compare (and, for a new role or on request, set) a login role's password.

        An existing role's password is changed only when ``rotate`` is set: it may be the
        one a running application uses. A password that is unknown here or cannot be
        read from the server is reported as such, never as matching or differing.
        """
        if not spec.login or not self.compare_passwords:
            return
        password = self.passwords.get(spec.name)
        if password is None:
            if state is not None:
                self.add(
                    f"role {spec.name}: password unknown here (set MEDZ1_*_PASSWORD or copy "
                    "the password file to compare it)",
                    None,
                )
            return
        if state is not None and not self.rotate:
            if not self._can_read_authid():
                # A managed service's administrator may not read verifiers: the server
                # itself answers whether the password logs the role in.
                answer = self._login_answer(spec.name, password)
                if answer is True:
                    return
                if answer is False:
                    self.add(
                        f"role {spec.name}: the password known here does not log it in "
                        "(it differs, or the role may not connect now; left unchanged; "
                        "`medz1 grants apply --rotate-passwords` sets it)",
                        None,
                    )
                    return
                if answer is None:
                    self.add(
                        f"role {spec.name}: password cannot be compared here (this "
                        "administrator may not read pg_authid, and a login as the role "
                        "was not possible)",
                        None,
                    )
                    return
            else:
                verifier = self.conn.execute(
                    text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": spec.name}
                ).scalar()
                if verifier and verifier_matches(str(verifier), password.get_secret_value()):
                    return
            self.add(
                f"role {spec.name}: password differs from the one known here (left unchanged; "
                "`medz1 grants apply --rotate-passwords` sets it)",
                None,
            )
            return
        if state is not None and self._has_password(spec.name, password):
            return  # rotated already (an earlier step of the same command committed it)
        # libpq computes the verifier, so the password itself never reaches the server.
        pgconn = self.conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        verifier_bytes: bytes = pgconn.encrypt_password(
            password.get_secret_value().encode(), spec.name.encode(), b"scram-sha-256"
        )
        self.add(
            f"role {spec.name}: password " + ("set" if state is None else "rotated"),
            sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(spec.name), sql.Literal(verifier_bytes.decode())
            ),
        )

    def _has_password(self, role: str, password: SecretStr) -> bool:
        """True when ``role`` already has ``password``: its verifier matches, or (for an
        administrator who may not read ``pg_authid``) the password logs it in.
        """
        if not self._can_read_authid():
            return self._login_answer(role, password) is True
        verifier = self.conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}
        ).scalar()
        return bool(verifier) and verifier_matches(str(verifier), password.get_secret_value())

    def _login_answer(self, role: str, password: SecretStr) -> bool | None:
        """Whether ``password`` logs ``role`` in to this database, asked of the server.

        libpq reports no SQLSTATE for a refused login, so a login that sent the password
        and failed counts as not matching (the role may also have been refused a slot or
        CONNECT: the report says so); no password sent (unreachable) is unknown.

        Returns:
            True when it logs in, False when the password was sent and the login failed,
            None when the password was never asked for (the server is unreachable).
        """
        engine = self.conn.engine
        url = engine.url.set(username=role, password=password.get_secret_value())
        _args, options = engine.dialect.create_connect_args(url)
        options.update(connect_timeout=5, application_name="medz1:password-check")
        try:
            connection = psycopg.connect(**options)
        except psycopg.Error as exc:
            pgconn = getattr(exc, "pgconn", None)
            return False if pgconn is not None and pgconn.used_password else None
        connection.close()
        return True

    def _can_read_authid(self) -> bool:
        return bool(
            self.conn.execute(text("SELECT has_table_privilege('pg_authid', 'SELECT')")).scalar()
        )

    def _settings(self, spec: RoleSpec, state: actual.RoleState | None) -> None:
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
        for name in sorted(state.global_settings if state is not None else {}):
            self.add(
                f"role {spec.name}: unexpected setting {name} in every database",
                sql.SQL("ALTER ROLE {} RESET {}").format(
                    sql.Identifier(spec.name), sql.Identifier(name)
                ),
            )

    def _administrator(self) -> None:
        """A non-superuser administrator makes itself able to act as the owner; a missing
        owner role is created first by the same plan, so the grant is planned then too.
        """
        if not any(
            d.repair is not None and d.description == f"role {OWNER}: missing" for d in self.found
        ):
            difference = cluster.owner_membership_difference(self.conn)
            if difference is not None:
                self.found.append(difference)
            return
        if not cluster.is_superuser(self.conn):
            version = int(str(self.conn.execute(text("SHOW server_version_num")).scalar_one()))
            options = sql.SQL(" WITH INHERIT TRUE, SET TRUE") if version >= 160000 else sql.SQL("")
            self.add(
                f"role {OWNER}: this administrator may not act as it (needs SET and INHERIT)",
                sql.SQL("GRANT {} TO CURRENT_USER{}").format(sql.Identifier(OWNER), options),
            )

    def _memberships(self) -> None:
        for difference in cluster.membership_differences(self.conn):
            self.found.append(difference)
        if self.adopted:
            return  # settings of the whole database are the other applications' too
        for difference in cluster.database_setting_differences(self.conn):
            self.found.append(difference)

    # -- ownership --------------------------------------------------------------------

    @cached_property
    def adopted(self) -> bool:
        """True in a database medz1 adopted: other applications' objects live there."""
        comment = self.conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).scalar()
        return comment == ADOPTED_MARKER

    @cached_property
    def foreign(self) -> frozenset[str]:
        """In an adopted database: the other applications' objects in ``public`` (owned by
        another role and not declared), named as ``acl`` and ``actual`` name them.
        """
        if not self.adopted:
            return frozenset()
        rows = self.conn.execute(
            text(
                """
                SELECT n.nspname || '.' || c.relname FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> :owner
                UNION ALL
                SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace
                  AND pg_get_userbyid(p.proowner) <> :owner
                UNION ALL
                SELECT t.oid::regtype::text FROM pg_type t
                WHERE t.typnamespace = 'public'::regnamespace
                  AND pg_get_userbyid(t.typowner) <> :owner
                """
            ),
            {"owner": OWNER},
        ).scalars()
        return frozenset(str(r) for r in rows) - set(self.matrix.tables)

    def _owner_creates_in_public(self) -> None:
        """In an adopted database ``public`` stays its owner's, so the owner may not create
        there; PostgreSQL lets a non-superuser hand a table to a role only when that role
        may create in the table's schema (``ALTER TABLE ... OWNER TO``), so medz1's owner
        gets CREATE on ``public`` to own medz1's tables there.
        """
        may_create = self.conn.execute(
            text(
                "SELECT CASE WHEN to_regnamespace('public') IS NULL THEN true "
                "WHEN to_regrole(:owner) IS NULL THEN false "  # created by this same plan
                "ELSE has_schema_privilege(:owner, 'public', 'CREATE') END"
            ),
            {"owner": OWNER},
        ).scalar()
        if not may_create:
            self.add(
                f"schema public: {OWNER} may not create in it (needed to own medz1's tables "
                "in a database medz1 adopted)",
                sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(OWNER)),
            )

    def _declared(self, kind: str, name: str) -> bool:
        """In an adopted database, only the objects medz1 declares are its to change."""
        if kind == "database":
            return False
        if kind == "schema":
            return name in self.matrix.schemas
        if kind == "table":
            return name in self.matrix.tables
        if kind == "function":  # regprocedure text: unqualified when in search_path
            qualified = "." in name.split("(")[0]
            return name in FUNCTION_EXECUTE or (qualified and not name.startswith("public."))
        return not name.startswith("public.")

    def ownership(self) -> None:
        # Only what medz1 declares is given to its owner: an object someone else created
        # in medz1's schemas (a function shadowing a built-in, say) is reported, never
        # adopted, so a repair cannot make it part of medz1.
        snapshot = catalog.declared()
        declared_functions = set(snapshot["functions"])
        declared_objects = set(snapshot["objects"])
        adopted = self.adopted
        if adopted:
            self.foreign  # noqa: B018 -- read before any owner changes
            self._owner_creates_in_public()
        # The database, then the schemas, then what is in them: a non-superuser may hand
        # an object to the owner only when the owner may create in its schema.
        found = actual.owners(self.conn, self.matrix.schemas).items()
        for obj, owner in sorted(found, key=_ownership_order):
            if owner == OWNER:
                continue
            kind, _, name = obj.partition(":")
            if adopted and not self._declared(kind, name):
                continue
            if kind == "function" and not (
                name in declared_functions or f"public.{name}" in declared_functions
            ):
                self.add(
                    f"function {name}: not declared by medz1 (owned by {owner}); "
                    "drop it by hand if nobody needs it",
                    None,
                )
                continue
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
        for item in objects.user_objects(self.conn, self.matrix.schemas):
            keyword = _OWNED_KEYWORD.get(item.type)
            if keyword is None or item.owner in ("", OWNER):
                continue
            if adopted and item.identity.startswith("public."):
                continue
            if item.name not in declared_objects:
                self.add(
                    f"{item.name}: not declared by medz1 (owned by {item.owner}); "
                    "drop it by hand if nobody needs it",
                    None,
                )
                continue
            self.add(
                f"{item.name}: owned by {item.owner}, should be {OWNER}",
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(keyword), sql.SQL(item.identity), sql.Identifier(OWNER)
                ),
            )

    # -- row-level security -------------------------------------------------------------

    def row_security(self) -> None:
        """RLS switches and policies of the clinical tables (station scoping).

        Row security must be forced on every declared table and enabled exactly when
        ``MEDZ1_STATION_SCOPING`` is on; each declared policy must exist with its command,
        roles and permissiveness, and no other policy may exist on those tables. The
        policies' expressions are compared by ``medz1 check`` (the declared catalog).
        """
        tables = [t for t in self.matrix.row_security if t in self._existing_tables()]
        if not tables:
            return
        state = {
            str(name): (bool(on), bool(forced))
            for name, on, forced in self.conn.execute(
                text(
                    "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, "
                    "c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname || '.' || c.relname = ANY(:t)"
                ),
                {"t": tables},
            )
        }
        want_on = self.matrix.station_scoping
        for table in tables:
            on, forced = state[table]
            if on != want_on:
                self.add(
                    f"table {table}: row level security is "
                    + ("on" if on else "off")
                    + " (MEDZ1_STATION_SCOPING is "
                    + ("on)" if want_on else "off)"),
                    sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
                        _qualified(table), sql.SQL("ENABLE" if want_on else "DISABLE")
                    ),
                )
            if not forced:
                self.add(
                    f"table {table}: row level security is not forced (the owner bypasses it)",
                    sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(_qualified(table)),
                )
        existing = {
            str(key): (str(permissive), tuple(sorted(roles)), str(cmd))
            for key, permissive, roles, cmd in self.conn.execute(
                text(
                    "SELECT schemaname || '.' || tablename || '.' || policyname, permissive, "
                    "roles::text[], cmd FROM pg_policies "
                    "WHERE schemaname || '.' || tablename = ANY(:t)"
                ),
                {"t": tables},
            )
        }
        declared = {p.key: p for p in self.matrix.policies if p.table in tables}
        for key, policy in declared.items():
            have = existing.get(key)
            create = _policy_statement(policy)
            if have is None:
                self.add(f"policy {key}: missing", create)
            elif have != ("PERMISSIVE", tuple(sorted(policy.roles)), policy.command):
                self.add(
                    f"policy {key}: differs (should be PERMISSIVE FOR {policy.command} TO "
                    f"{', '.join(policy.roles)})",
                    sql.SQL("{}; {}").format(_drop_policy(policy.table, policy.name), create),
                )
        for key in sorted(existing.keys() - declared.keys()):
            table, _, name = key.rpartition(".")
            self.add(f"policy {key}: not declared", _drop_policy(table, name))

    # -- privileges -------------------------------------------------------------------

    def privileges(self) -> None:
        held = (
            actual.table_privileges(self.conn, LOGIN_ROLES, self.matrix.tables)
            | actual.schema_privileges(self.conn, LOGIN_ROLES, self.matrix.schemas)
            | actual.database_privileges(self.conn, LOGIN_ROLES)
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
                    granted = (grantee, obj, privilege) in held
                    if declared != granted:
                        self._privilege_difference(grantee, obj, privilege, grant=declared)
        self._password_column()
        self.found.extend(acl.plan(self.conn, self.matrix, skip_labels=self.foreign))
        if self.other_databases != "skip":
            self.found.extend(
                cluster.other_database_differences(
                    self.conn, repair=self.other_databases == "repair"
                )
            )

    def _existing_tables(self) -> set[str]:
        rows = self.conn.execute(
            text("SELECT t FROM unnest(CAST(:t AS text[])) t WHERE to_regclass(t) IS NOT NULL"),
            {"t": list(self.matrix.tables)},
        ).scalars()
        return set(rows)

    def _privilege_difference(self, grantee: str, obj: str, privilege: str, *, grant: bool) -> None:
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
            readable = actual.column_privilege(self.conn, role, schema, table, column)
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
        present = actual.default_privileges(self.conn, OWNER)
        declared = set(self.matrix.default_privileges)
        for schema, _objtype, grantee, privilege in sorted(declared - present):
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
        for schema, objtype, grantee, privilege in sorted(present - declared):
            kind = _KINDS.get(objtype, "TABLES")
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
        for role, schema, objtype, grantee, privilege in cluster.foreign_default_privileges(
            self.conn, OWNER
        ):
            if self.adopted and grantee == PUBLIC:
                continue  # another application's defaults in a database medz1 adopted
            kind = _KINDS.get(objtype, "TABLES")
            scope = (
                sql.SQL("")
                if schema == "*"
                else sql.SQL(" IN SCHEMA {}").format(sql.Identifier(schema))
            )
            self.add(
                f"default {privilege} on new {kind.lower()} of role {role} in {schema} for "
                f"{grantee}: not declared",
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {} ON {} FROM {}").format(
                    sql.Identifier(role),
                    scope,
                    sql.SQL(privilege),
                    sql.SQL(kind),
                    _grantee(grantee),
                ),
            )
        if actual.public_executes_new_functions(self.conn, OWNER):
            self.add(
                "default EXECUTE on new functions for PUBLIC: granted but not declared",
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
                ).format(sql.Identifier(OWNER)),
            )

    def functions(self) -> None:
        for signature, definer, path in actual.functions(self.conn, self.matrix.schemas):
            if signature in self.foreign:
                continue
            if path is None:
                self.add(f"function {signature}: does not pin search_path", None)
                if definer:
                    self.add(f"function {signature}: SECURITY DEFINER without search_path", None)
            if definer and path != DEFINER_SEARCH_PATH:
                self.add(
                    f"function {signature}: SECURITY DEFINER with search_path "
                    f"{path or 'unset'}, should be {DEFINER_SEARCH_PATH}",
                    sql.SQL("ALTER ROUTINE {} SET search_path = {}").format(
                        sql.SQL(signature), sql.SQL(DEFINER_SEARCH_PATH)
                    ),
                )


def _ownership_order(item: tuple[str, str]) -> tuple[int, str]:
    """Sort key of ``actual.owners`` entries: the database, schemas, then their objects."""
    obj = item[0]
    return (0 if obj == "database" else 1 if obj.startswith("schema:") else 2, obj)


def _role_statement(spec: RoleSpec, *, create: bool, valid_until: bool = True) -> sql.Composed:
    limit = spec.limits.connection_limit if spec.limits else -1
    expiry = " VALID UNTIL 'infinity'" if valid_until else ""
    return sql.SQL(
        "{verb} {name} WITH {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        "{bypassrls} INHERIT CONNECTION LIMIT {limit}" + expiry
    ).format(
        verb=sql.SQL("CREATE ROLE" if create else "ALTER ROLE"),
        name=sql.Identifier(spec.name),
        login=sql.SQL("LOGIN" if spec.login else "NOLOGIN"),
        bypassrls=sql.SQL("BYPASSRLS" if spec.bypassrls else "NOBYPASSRLS"),
        limit=sql.Literal(limit),
    )


def _policy_statement(policy: RowPolicy) -> sql.Composed:
    return sql.SQL("CREATE POLICY {} ON {} AS PERMISSIVE FOR {} TO {} USING ({})").format(
        sql.Identifier(policy.name),
        _qualified(policy.table),
        sql.SQL(policy.command),
        sql.SQL(", ").join(sql.Identifier(r) for r in policy.roles),
        # Declared text of medz1's own policies, not input.
        sql.SQL(policy.using),
    )


def _drop_policy(table: str, name: str) -> sql.Composed:
    return sql.SQL("DROP POLICY {} ON {}").format(sql.Identifier(name), _qualified(table))


def password_differences(
    conn: Connection, specs: tuple[RoleSpec, ...], passwords: dict[str, SecretStr]
) -> list[Difference]:
    """Only the password comparison of :func:`plan`: what is unknown here, cannot be
    compared here (no right to read ``pg_authid``), or differs. Never a repair for an
    existing role (that takes ``rotate``).
    """
    planner = _Planner(conn, Matrix(frozenset(), (), ()), specs, passwords)
    states = actual.roles(conn, tuple(s.name for s in specs))
    for spec in specs:
        planner._password(spec, states.get(spec.name))
    return planner.found


def plan_roles(
    conn: Connection,
    matrix: Matrix,
    specs: tuple[RoleSpec, ...],
    passwords: dict[str, SecretStr],
    *,
    rotate: bool = False,
    external: bool = False,
) -> list[Difference]:
    """Differences in roles (attributes, passwords, limits, memberships) and ownership:
    what must hold before migrations run as the owner.

    An existing role's password is set only with ``rotate``; with ``external`` (a server
    medz1 does not run) a role's expiry date is reported, never reset.
    """
    planner = _Planner(conn, matrix, specs, passwords, rotate=rotate, external=external)
    planner.roles()
    planner.ownership()
    return planner.found


def plan(
    conn: Connection,
    matrix: Matrix,
    specs: tuple[RoleSpec, ...],
    passwords: dict[str, SecretStr] | None = None,
    *,
    other_databases: Literal["skip", "report", "repair"] = "skip",
    rotate: bool = False,
    external: bool = False,
) -> list[Difference]:
    """Every difference between the role plan and the database, in the order to repair them.

    Args:
        conn: an administrator connection to the medz1 database.
        matrix: the declared matrix.
        specs: the declared roles.
        passwords: role passwords to compare (none are compared when omitted).
        other_databases: what to do about PUBLIC's (or a login role's) CONNECT and
            TEMPORARY on ``postgres`` and ``template1``: ``repair`` when medz1 runs the
            server (the embedded one), ``report`` on an external server, ``skip`` to leave
            them out (a restore's own check).
        rotate: set the passwords of existing roles (``grants apply --rotate-passwords``).
        external: the server is not medz1's own: a role's VALID UNTIL is reported, not reset.

    Returns:
        Each difference with its repair (None when a human or a migration must decide).
    """
    planner = _Planner(
        conn,
        matrix,
        specs,
        passwords or {},
        other_databases=other_databases,
        compare_passwords=passwords is not None,
        rotate=rotate,
        external=external,
    )
    planner.roles()
    planner.ownership()
    planner.privileges()
    planner.row_security()
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
