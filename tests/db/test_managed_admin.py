"""medz1 run by an administrator who is not a superuser (a managed service's admin role).

Each test makes its own administrator with the session's administrator: a LOGIN role with
CREATEDB (and CREATEROLE where the test needs it), never a superuser. On the bundled
server it connects over the unix socket with a SCRAM password, on the managed-service
server (``MEDZ1_TEST_SERVER=managed``) over TCP. The whole ``up`` path as a CREATEROLE
administrator is what the managed-service run of the suite proves (its template database
is built that way); the last tests here check its result.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.errors import PrivilegeError
from medz1.ops.database import REQUIRED_EXTENSIONS, missing_extensions
from medz1.ops.grants import apply_grants, apply_roles, check_grants
from medz1.ops.up import up
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP, LOADER, OWNER
from medz1.provision.objects import user_objects
from tests.plugins.database import MANAGED, drop_database, unique_number

pytestmark = pytest.mark.db


def _admin_engine(server: EmbeddedServer, database: str = "postgres") -> Engine:
    return make_engine(server.url(database), poolclass=NullPool, isolation_level="AUTOCOMMIT")


def _run(engine: Engine, statement: sql.Composable) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql(statement.as_string())


def _connect(engine: Engine, database: str, role: str) -> None:
    _run(
        engine,
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)
        ),
    )


def _disconnect(engine: Engine, database: str, role: str) -> None:
    _run(
        engine,
        sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
            sql.Identifier(database), sql.Identifier(role)
        ),
    )


@pytest.fixture
def other_admin(pg_server: EmbeddedServer) -> Iterator[tuple[str, str]]:
    """A second administrator: LOGIN CREATEDB CREATEROLE, no superuser. Its name and
    password; dropped afterwards with whatever it owns.
    """
    name = f"medz1_other_admin_{unique_number()}"
    password = secrets.token_urlsafe(24)
    engine = _admin_engine(pg_server)
    _run(
        engine,
        sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        ),
    )
    # The bundled server lets no role but the superuser reach ``postgres`` (S24).
    with engine.connect() as conn:
        can_grant = conn.execute(
            text("SELECT has_database_privilege('postgres', 'CONNECT WITH GRANT OPTION')")
        ).scalar()
    if can_grant:
        _run(
            engine, sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(sql.Identifier(name))
        )
    try:
        yield name, password
    finally:
        with engine.connect() as conn:
            databases = conn.execute(
                text("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = :r"),
                {"r": name},
            ).scalars()
            for database in list(databases):
                drop_database(pg_server, str(database))
        if can_grant:
            _run(
                engine,
                sql.SQL("REVOKE CONNECT ON DATABASE postgres FROM {}").format(sql.Identifier(name)),
            )
        _run(engine, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        engine.dispose()


@pytest.mark.skipif(MANAGED, reason="vector is allowed there, as managed services allow it")
def test_extension_the_administrator_may_not_create_is_named_with_the_statement_to_ask_for(
    pg_server: EmbeddedServer, other_admin: tuple[str, str], role_plan: RolePlan
) -> None:
    name, password = other_admin
    database = f"medz1_noext_{unique_number()}"
    target = Target(url=pg_server.url(database, user=name, password=password), embedded=False)
    with pytest.raises(PrivilegeError) as caught:
        up(target, role_plan)
    message, hint = str(caught.value), caught.value.hint or ""
    assert "extension vector" in message
    assert f"database {database}" in message
    assert 'CREATE EXTENSION IF NOT EXISTS "vector" SCHEMA "public"' in hint
    engine = make_engine(target.url, poolclass=NullPool)
    try:
        assert missing_extensions(engine) == list(REQUIRED_EXTENSIONS)  # nothing installed
    finally:
        engine.dispose()


def test_database_owned_by_another_role_is_refused_naming_its_owner(
    pg_server: EmbeddedServer, other_admin: tuple[str, str], role_plan: RolePlan
) -> None:
    name, password = other_admin
    database = f"medz1_notmine_{unique_number()}"
    engine = _admin_engine(pg_server)
    _run(engine, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        owner = str(pg_server.url(database).username)
        target = Target(url=pg_server.url(database, user=name, password=password), embedded=False)
        with pytest.raises(PrivilegeError) as caught:
            up(target, role_plan)
        assert f"owned by {owner}" in str(caught.value)
        assert f"ALTER DATABASE {database} OWNER TO {name}" in (caught.value.hint or "")
        with engine.connect() as conn:
            comment = conn.execute(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :d"
                ),
                {"d": database},
            ).scalar()
        assert comment is None
    finally:
        drop_database(pg_server, database)
        engine.dispose()


def test_role_created_by_another_administrator_is_refused_with_the_grant_to_ask_for(
    pg_server: EmbeddedServer,
    db_target: Target,
    other_admin: tuple[str, str],
    role_plan: RolePlan,
) -> None:
    name, password = other_admin
    engine = _admin_engine(pg_server, db_target.database)
    # The other administrator may act in the database (as the owner's member) but holds
    # no ADMIN OPTION on the login roles, which the session's administrator created.
    _run(engine, sql.SQL("GRANT {} TO {}").format(sql.Identifier(OWNER), sql.Identifier(name)))
    _connect(engine, db_target.database, name)
    _run(engine, sql.SQL("ALTER ROLE {} CONNECTION LIMIT 3").format(sql.Identifier(APP)))
    try:
        target = Target(url=db_target.url.set(username=name, password=password), embedded=False)
        with pytest.raises(PrivilegeError) as caught:
            apply_grants(target, role_plan)
        assert APP in str(caught.value)
        assert f"GRANT {APP} TO {name} WITH ADMIN OPTION" in (caught.value.hint or "")
        with engine.connect() as conn:
            limit = conn.execute(
                text("SELECT rolconnlimit FROM pg_roles WHERE rolname = :r"), {"r": APP}
            ).scalar_one()
        assert limit == 3  # nothing was changed
    finally:
        _run(
            engine, sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(OWNER), sql.Identifier(name))
        )
        _disconnect(engine, db_target.database, name)
        engine.dispose()
        apply_grants(db_target, role_plan)


def test_loader_bypassrls_the_administrator_does_not_hold_is_refused_naming_the_statement(
    pg_server: EmbeddedServer,
    db_target: Target,
    other_admin: tuple[str, str],
    role_plan: RolePlan,
) -> None:
    name, password = other_admin
    engine = _admin_engine(pg_server, db_target.database)
    # The other administrator may manage the loader and act as the owner, but holds no
    # BYPASSRLS, which only a role holding it may give (the loader lost it by hand).
    _run(
        engine,
        sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
            sql.Identifier(LOADER), sql.Identifier(name)
        ),
    )
    _run(engine, sql.SQL("GRANT {} TO {}").format(sql.Identifier(OWNER), sql.Identifier(name)))
    _connect(engine, db_target.database, name)
    _run(engine, sql.SQL("ALTER ROLE {} NOBYPASSRLS").format(sql.Identifier(LOADER)))
    try:
        target = Target(url=db_target.url.set(username=name, password=password), embedded=False)
        with pytest.raises(PrivilegeError) as caught:
            apply_roles(target, role_plan)
        assert LOADER in str(caught.value)
        assert f"ALTER ROLE {name} BYPASSRLS" in (caught.value.hint or "")
        with engine.connect() as conn:
            bypassrls = conn.execute(
                text("SELECT rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": LOADER}
            ).scalar_one()
        assert bypassrls is False  # nothing was changed
    finally:
        _run(engine, sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(LOADER)))
        _disconnect(engine, db_target.database, name)
        engine.dispose()


def test_user_objects_are_listed_for_an_administrator_who_may_not_read_user_mappings(
    pg_server: EmbeddedServer, db_target: Target, other_admin: tuple[str, str]
) -> None:
    name, password = other_admin
    admin = _admin_engine(pg_server, db_target.database)
    _connect(admin, db_target.database, name)
    engine = make_engine(db_target.url.set(username=name, password=password), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            listed = user_objects(conn, ("public",))
    finally:
        engine.dispose()
        _disconnect(admin, db_target.database, name)
        admin.dispose()
    assert "table public.patient_demographics" in {item.name for item in listed}


@pytest.mark.skipif(not MANAGED, reason="needs MEDZ1_TEST_SERVER=managed")
def test_createrole_administrator_acts_as_the_owner_and_leaves_nothing_to_repair(
    db_target: Target, role_plan: RolePlan
) -> None:
    engine = make_engine(db_target.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            superuser, can_set, owner = conn.execute(
                text(
                    "SELECT rolsuper, pg_has_role(current_user, :o, 'SET'), "
                    "pg_get_userbyid((SELECT datdba FROM pg_database "
                    "WHERE datname = current_database())) "
                    "FROM pg_roles WHERE rolname = current_user"
                ),
                {"o": OWNER},
            ).one()
    finally:
        engine.dispose()
    assert not superuser
    assert can_set
    assert owner == OWNER
    # Passwords are compared by logging in (pg_authid is not readable): all match.
    assert check_grants(db_target, role_plan) == []
    assert not up(db_target, role_plan).changed
