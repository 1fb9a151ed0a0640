"""``grants check`` sees every privilege and role property made by hand, and ``grants
apply`` repairs it (S22-S24): column grants, EXECUTE, sequences, types, large objects,
parameters, grant options, foreign grantees, default privileges, role attributes,
memberships, settings, ownership of every object, and the cluster's other databases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.credentials import RolePlan
from tests.plugins.database import ADMIN_ROLE

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def _roles_repaired(db_target: Target, role_plan: RolePlan) -> Iterator[None]:
    """Roles and the cluster's databases are shared by the test session: repair them after
    each test, whatever it left behind.
    """
    yield
    apply_grants(db_target, role_plan)


def _run(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        database = conn.execute(text("SELECT quote_ident(current_database())")).scalar_one()
        for statement in statements:
            conn.execute(text(statement.replace("{db}", database)))


def _check(target: Target, role_plan: RolePlan) -> list[str]:
    return check_grants(target, role_plan, other_databases=True)


@pytest.mark.parametrize(
    ("statements", "line"),
    [
        (
            ["GRANT UPDATE (name_last) ON public.patient_demographics TO reporting_user"],
            "UPDATE (name_last) on public.patient_demographics for reporting_user: "
            "granted but not declared",
        ),
        (
            ["GRANT SELECT (password_hash) ON auth.users TO medz1_auditor"],
            "SELECT (password_hash) on auth.users for medz1_auditor: granted but not declared",
        ),
        (
            ["GRANT EXECUTE ON FUNCTION auth.purge_audit_logs(integer) TO med_z1_user"],
            "EXECUTE on function auth.purge_audit_logs(integer) for med_z1_user: "
            "granted but not declared",
        ),
        (
            ["GRANT EXECUTE ON FUNCTION auth.audit_chain_row() TO PUBLIC"],
            "function auth.audit_chain_row(): executable by PUBLIC",
        ),
        (
            ["REVOKE EXECUTE ON FUNCTION auth.purge_audit_logs(integer) FROM medz1_auditor"],
            "EXECUTE on function auth.purge_audit_logs(integer) for medz1_auditor: missing",
        ),
        (
            ["ALTER FUNCTION auth.purge_audit_logs(integer) SET search_path = public"],
            "function auth.purge_audit_logs(integer): SECURITY DEFINER with search_path "
            "public, should be pg_catalog, pg_temp",
        ),
        (
            ["ALTER FUNCTION auth.audit_chain_row() SET search_path = pg_temp, pg_catalog"],
            "function auth.audit_chain_row(): SECURITY DEFINER with search_path "
            "pg_temp, pg_catalog, should be pg_catalog, pg_temp",
        ),
        (
            ["GRANT USAGE ON SCHEMA auth TO med_z1_user WITH GRANT OPTION"],
            "USAGE on schema auth for med_z1_user: WITH GRANT OPTION (not declared)",
        ),
        (
            ["GRANT SELECT ON public.patient_labs TO reporting_user WITH GRANT OPTION"],
            "SELECT on table public.patient_labs for reporting_user: "
            "WITH GRANT OPTION (not declared)",
        ),
        (
            ["GRANT CONNECT ON DATABASE {db} TO medz1_auditor WITH GRANT OPTION"],
            "WITH GRANT OPTION (not declared)",
        ),
        (
            ["GRANT SELECT ON auth.users TO pg_monitor"],
            "SELECT on table auth.users for pg_monitor: granted to a role medz1 does not manage",
        ),
        pytest.param(
            ["GRANT SET ON PARAMETER session_replication_role TO med_z1_user"],
            "SET on parameter session_replication_role for med_z1_user: granted but not declared",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
        (
            [
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {ADMIN_ROLE} IN SCHEMA public "
                "GRANT SELECT ON TABLES TO reporting_user"
            ],
            f"default SELECT on new tables of role {ADMIN_ROLE} in public for reporting_user: "
            "not declared",
        ),
        (
            [
                "ALTER DEFAULT PRIVILEGES FOR ROLE medz1_owner GRANT EXECUTE ON FUNCTIONS TO med_z1_user"
            ],
            "default EXECUTE on new functions in * for med_z1_user: granted but not declared",
        ),
    ],
)
def test_privilege_made_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statements: list[str], line: str
) -> None:
    _run(engine, *statements)
    assert any(line in found for found in _check(db_target, role_plan)), _check(
        db_target, role_plan
    )
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


def test_sequence_grant_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(engine, "SET ROLE medz1_owner", "CREATE SEQUENCE public.counter")
    _run(engine, "GRANT USAGE, UPDATE ON SEQUENCE public.counter TO reporting_user")
    found = _check(db_target, role_plan)
    assert "UPDATE on sequence public.counter for reporting_user: granted but not declared" in (
        found
    )
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


def test_type_grant_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(engine, "SET ROLE medz1_owner", "CREATE DOMAIN auth.short AS int")
    _run(engine, "GRANT USAGE ON DOMAIN auth.short TO reporting_user WITH GRANT OPTION")
    found = _check(db_target, role_plan)
    assert "USAGE on type auth.short for reporting_user: granted but not declared" in found
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


def test_large_object_grant_and_owner_are_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(
        engine, "SELECT lo_create(424242)", "GRANT UPDATE ON LARGE OBJECT 424242 TO reporting_user"
    )
    found = _check(db_target, role_plan)
    assert "UPDATE on large object 424242 for reporting_user: granted but not declared" in found
    not_declared = f"large object 424242: not declared by medz1 (owned by {ADMIN_ROLE})"
    assert any(line.startswith(not_declared) for line in found)
    apply_grants(db_target, role_plan)
    # The grant is revoked; the object itself is never adopted, only reported.
    assert [
        line for line in _check(db_target, role_plan) if not line.startswith(not_declared)
    ] == []


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        (
            "CREATE COLLATION public.bytewise (provider = libc, locale = 'C')",
            "collation public.bytewise",
        ),
        ("CREATE TYPE public.mood AS ENUM ('calm')", "type public.mood"),
        (
            "CREATE FUNCTION auth.helper() RETURNS int LANGUAGE sql "
            "SET search_path = pg_catalog AS 'SELECT 1'",
            "function auth.helper()",
        ),
        (
            "CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT $1::text'",
            "function lower(character varying)",
        ),
        (
            "CREATE TEXT SEARCH CONFIGURATION public.plain (COPY = simple)",
            "text search configuration public.plain",
        ),
    ],
)
def test_undeclared_object_is_reported_and_never_adopted(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, name: str
) -> None:
    _run(engine, statement)
    line = f"{name}: not declared by medz1 (owned by {ADMIN_ROLE})"
    assert any(found.startswith(line) for found in _check(db_target, role_plan))
    apply_grants(db_target, role_plan)
    assert any(found.startswith(line) for found in _check(db_target, role_plan))


def test_declared_function_owned_by_another_role_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(engine, f"ALTER FUNCTION auth.purge_audit_logs(integer) OWNER TO {ADMIN_ROLE}")
    line = f"function auth.purge_audit_logs(integer): owned by {ADMIN_ROLE}, should be medz1_owner"
    assert line in _check(db_target, role_plan)
    apply_grants(db_target, role_plan)
    assert not any("owned by" in found for found in _check(db_target, role_plan))


@pytest.mark.parametrize(
    ("role", "attribute", "should"),
    [
        pytest.param(
            "reporting_user",
            "SUPERUSER",
            "NOSUPERUSER",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
        ("reporting_user", "CREATEDB", "NOCREATEDB"),
        ("medz1_loader", "CREATEROLE", "NOCREATEROLE"),
        ("medz1_auditor", "BYPASSRLS", "NOBYPASSRLS"),
        pytest.param(
            "med_z1_user",
            "REPLICATION",
            "NOREPLICATION",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
        ("med_z1_user", "NOINHERIT", "INHERIT"),
        ("medz1_owner", "LOGIN", "NOLOGIN"),
        ("medz1_owner", "CREATEDB", "NOCREATEDB"),
        ("reporting_user", "CONNECTION LIMIT 90", "CONNECTION LIMIT 10"),
        pytest.param(
            "medz1_auditor",
            "VALID UNTIL '2001-01-01'",
            "VALID UNTIL 'infinity'",
            # On a server medz1 does not run an expiry is reported and kept instead
            # (tests/cli/test_role_passwords_cli.py).
            marks=pytest.mark.embedded_only("resets an expiry, which medz1 does on its own server"),
        ),
    ],
)
def test_role_attribute_made_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, role: str, attribute: str, should: str
) -> None:
    _run(engine, f"ALTER ROLE {role} {attribute}")
    found = _check(db_target, role_plan)
    assert f"role {role}: attributes differ (should be {should})" in found
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "GRANT medz1_owner TO med_z1_user",
            "role med_z1_user: is a member of medz1_owner with INHERIT, SET",
        ),
        (
            "GRANT medz1_auditor TO med_z1_user WITH ADMIN OPTION",
            "role med_z1_user: is a member of medz1_auditor with ADMIN, INHERIT, SET",
        ),
        (
            "GRANT medz1_owner TO reporting_user WITH INHERIT FALSE, SET TRUE",
            "role reporting_user: is a member of medz1_owner with SET",
        ),
        ("GRANT pg_read_all_data TO reporting_user", "is a member of pg_read_all_data"),
        ("GRANT pg_write_server_files TO medz1_loader", "is a member of pg_write_server_files"),
        (
            "GRANT pg_execute_server_program TO medz1_auditor",
            "is a member of pg_execute_server_program",
        ),
        ("GRANT pg_read_server_files TO medz1_owner", "role medz1_owner: is a member of"),
        ("GRANT reporting_user TO pg_monitor", "role pg_monitor: is a member of reporting_user"),
    ],
)
def test_membership_made_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, line: str
) -> None:
    _run(engine, statement)
    assert any(line in found for found in _check(db_target, role_plan))
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "ALTER ROLE reporting_user SET row_security = off",
            "role reporting_user: unexpected setting row_security in every database",
        ),
        (
            "ALTER ROLE med_z1_user IN DATABASE {db} SET search_path = admin, public",
            "role med_z1_user: unexpected setting search_path",
        ),
        (
            "ALTER DATABASE {db} SET search_path = admin, public",
            "setting search_path for every role",
        ),
    ],
)
def test_setting_made_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, line: str
) -> None:
    _run(engine, statement)
    assert any(line in found for found in _check(db_target, role_plan))
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_public_connect_to_the_cluster_databases_is_revoked_on_the_embedded_server(
    db_target: Target, engine: Engine, role_plan: RolePlan, database: str
) -> None:
    _run(engine, f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO PUBLIC")
    found = _check(db_target, role_plan)
    assert any(f.startswith(f"CONNECT on database {database} for PUBLIC") for f in found)
    assert any(f.startswith(f"TEMPORARY on database {database} for PUBLIC") for f in found)
    apply_grants(db_target, role_plan)
    assert _check(db_target, role_plan) == []


def test_cluster_databases_are_only_reported_on_an_external_server(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    external = Target(url=db_target.url, embedded=False)
    _run(engine, "GRANT CONNECT ON DATABASE template1 TO PUBLIC")
    apply_grants(external, role_plan)
    found = _check(external, role_plan)
    assert any(f.startswith("CONNECT on database template1 for PUBLIC") for f in found)
    assert "revoke it yourself" in " ".join(found)


def test_fresh_database_reports_nothing_including_the_cluster_databases(
    db_target: Target, role_plan: RolePlan
) -> None:
    assert _check(db_target, role_plan) == []


@pytest.mark.parametrize("database", ["postgres", "template1"])
def test_login_role_cannot_connect_to_the_cluster_databases(
    db_target: Target, role_plan: RolePlan, database: str
) -> None:
    url = db_target.url.set(
        database=database,
        username="reporting_user",
        password=role_plan.passwords["reporting_user"].get_secret_value(),
    )
    engine = make_engine(url)
    try:
        with pytest.raises(DBAPIError) as caught:
            engine.connect().close()
    finally:
        engine.dispose()
    # No SQLSTATE reaches psycopg at connect time, only the server's FATAL text.
    assert f'permission denied for database "{database}"' in str(caught.value.orig)
