"""The declared privilege matrix is what the database has (S22-S26), proven by asking
PostgreSQL and by really connecting as each role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.target import Target
from medz1.errors import NotFoundError
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import (
    APP,
    AUDITOR,
    LOADER,
    LOGIN_ROLES,
    OWNER,
    PUBLIC,
    REPORTING,
    TABLE_PRIVILEGES,
)

pytestmark = pytest.mark.db


@pytest.fixture
def connect(db_target: Target, role_plan: RolePlan) -> Iterator[Callable[[str], Engine]]:
    """``connect("app")`` returns an engine logged in as that role."""
    engines: list[Engine] = []

    def make(role: str) -> Engine:
        engine = engine_for_role(db_target, role, role_plan.passwords)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def _sqlstate(engine: Engine, statement: str) -> str | None:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return getattr(exc.orig, "sqlstate", None)
    return None


def test_grants_check_reports_zero_differences(db_target: Target, role_plan: RolePlan) -> None:
    assert check_grants(db_target, role_plan) == []


def test_every_role_relation_privilege_cell_matches_the_matrix(
    engine: Engine, role_plan: RolePlan
) -> None:
    differences = []
    with engine.connect() as conn:
        for table in role_plan.matrix.tables:
            for role in LOGIN_ROLES:
                for privilege in TABLE_PRIVILEGES:
                    held = conn.execute(
                        text("SELECT has_table_privilege(:r, :t, :p)"),
                        {"r": role, "t": table, "p": privilege},
                    ).scalar()
                    if held != role_plan.matrix.allowed(role, f"table:{table}", privilege):
                        differences.append((role, table, privilege))
    assert len(role_plan.matrix.tables) == 25  # 24 model tables + alembic_version
    assert differences == []


@pytest.mark.parametrize("schema", ["public", "auth", "ai", "admin"])
def test_schema_usage_and_create_match_the_matrix(
    engine: Engine, role_plan: RolePlan, schema: str
) -> None:
    with engine.connect() as conn:
        for role in LOGIN_ROLES:
            for privilege in ("USAGE", "CREATE"):
                held = conn.execute(
                    text("SELECT has_schema_privilege(:r, :s, :p)"),
                    {"r": role, "s": schema, "p": privilege},
                ).scalar()
                assert held == role_plan.matrix.allowed(role, f"schema:{schema}", privilege)


def test_password_hash_is_readable_by_the_application_alone(engine: Engine) -> None:
    with engine.connect() as conn:
        readable = {
            role: conn.execute(
                text("SELECT has_column_privilege(:r, 'auth.users', 'password_hash', 'SELECT')"),
                {"r": role},
            ).scalar()
            for role in LOGIN_ROLES
        }
    assert readable == {APP: True, REPORTING: False, LOADER: False, AUDITOR: False}


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("reporting", "SELECT count(*) FROM auth.users"),
        ("reporting", "SELECT password_hash FROM auth.users"),
        ("reporting", "SELECT count(*) FROM ai.chart_summaries"),
        ("reporting", "INSERT INTO patient_flags (patient_key) VALUES ('x')"),
        ("app", "UPDATE auth.audit_logs SET success = false"),
        ("app", "DELETE FROM auth.audit_logs"),
        ("app", "DELETE FROM patient_vitals"),
        ("app", "SELECT * FROM alembic_version"),
        ("app", "CREATE TABLE public.sneaky (x int)"),
        ("app", "DELETE FROM admin.feature_flags"),
        ("loader", "SELECT count(*) FROM auth.users"),
        ("loader", "SELECT count(*) FROM auth.audit_logs"),
        ("auditor", "SELECT count(*) FROM public.patient_vitals"),
        ("auditor", "INSERT INTO auth.audit_logs (event_type) VALUES ('forged')"),
    ],
)
def test_role_is_refused_with_42501(
    connect: Callable[[str], Engine], role: str, statement: str
) -> None:
    assert _sqlstate(connect(role), statement) == "42501"


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("app", "SELECT count(*) FROM patient_vitals"),
        ("app", "INSERT INTO auth.audit_logs (event_type, success) VALUES ('login', true)"),
        ("app", "SELECT password_hash FROM auth.users"),
        (
            "app",
            "INSERT INTO admin.user_preferences (user_id, preference_key, value) "
            "SELECT user_id, 'theme', '\"dark\"' FROM auth.users",
        ),
        ("reporting", "SELECT count(*) FROM patient_labs"),
        ("loader", "DELETE FROM patient_vitals"),
        ("loader", "CREATE TEMPORARY TABLE staging (x int)"),
        ("auditor", "SELECT count(*) FROM auth.audit_logs"),
    ],
)
def test_role_may_do_what_it_needs(
    connect: Callable[[str], Engine], role: str, statement: str
) -> None:
    assert _sqlstate(connect(role), statement) is None


def test_audit_rows_are_append_only_even_for_the_owner(connect: Callable[[str], Engine]) -> None:
    owner = connect("owner")
    app = connect("app")
    with app.begin() as conn:
        conn.execute(text("INSERT INTO auth.audit_logs (event_type) VALUES ('login')"))
    for statement in (
        "UPDATE auth.audit_logs SET success = true",
        "DELETE FROM auth.audit_logs",
        "TRUNCATE auth.audit_logs",
    ):
        assert _sqlstate(owner, statement) == "42501"
    with app.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.audit_logs")).scalar() == 1


def test_application_connects_as_med_z1_user_with_default_search_path(
    connect: Callable[[str], Engine],
) -> None:
    with connect("app").connect() as conn:
        user, path = conn.execute(text("SELECT current_user, current_setting('search_path')")).one()
    assert user == APP
    assert path == '"$user", public'


def test_wrong_password_is_refused(db_target: Target) -> None:
    url = db_target.url.set(username=APP, password="not-the-password-at-all")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=str(url.query.get("host", url.host)),
            port=str(url.query.get("port", url.port)),
            dbname=url.database,
            user=APP,
            password="not-the-password-at-all",
        ).close()


@pytest.mark.embedded_only("reads pg_authid, which only a superuser may")
def test_login_roles_are_unprivileged_and_scram(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.rolname, r.rolsuper OR r.rolcreaterole OR r.rolcreatedb "
                "OR r.rolreplication, r.rolbypassrls, a.rolpassword LIKE 'SCRAM-SHA-256$%' "
                "FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = ANY(:n)"
            ),
            {"n": list(LOGIN_ROLES)},
        ).all()
    # Only the loader bypasses row security: COPY FROM refuses to run under it.
    assert {name: (powerful, bypass, scram) for name, powerful, bypass, scram in rows} == {
        role: (False, role == LOADER, True) for role in LOGIN_ROLES
    }


def test_no_object_is_owned_by_a_login_role(engine: Engine) -> None:
    with engine.connect() as conn:
        owners = set(
            conn.execute(
                text(
                    "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname IN ('public','auth','ai','admin') "
                    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
                    "AND d.deptype = 'e')"
                )
            ).scalars()
        )
    assert owners == {OWNER}


def test_no_schema_grants_create_to_public(engine: Engine) -> None:
    with engine.connect() as conn:
        public_create = conn.execute(
            text(
                "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE a.grantee = 0 AND a.privilege_type = 'CREATE'"
            )
        ).scalar()
    assert public_create == 0


def test_functions_pin_search_path_and_are_not_executable_by_public(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.proname, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname IN ('auth','ai','admin')"
            )
        ).all()
    assert rows, "medz1 creates at least the audit trigger function"
    for name, config, public_execute in rows:
        assert any(c.startswith("search_path=") for c in config or []), name
        assert not public_execute, name


def test_role_limits_are_set_in_the_database(engine: Engine, role_plan: RolePlan) -> None:
    limits = {s.name: s.limits for s in role_plan.specs if s.limits}
    with engine.connect() as conn:
        for role, limit in limits.items():
            settings = (
                conn.execute(
                    text(
                        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                        "WHERE r.rolname = :r AND s.setdatabase = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())"
                    ),
                    {"r": role},
                ).scalar()
                or []
            )
            assert f"statement_timeout={limit.statement_timeout_ms}" in settings
            assert (
                f"idle_in_transaction_session_timeout={limit.idle_in_transaction_timeout_ms}"
            ) in settings


def test_connection_limit_refuses_one_more_loader(
    connect: Callable[[str], Engine], role_plan: RolePlan
) -> None:
    limit = next(
        s.limits.connection_limit for s in role_plan.specs if s.name == LOADER and s.limits
    )
    loader = connect("loader")
    held = [loader.connect() for _ in range(limit)]
    try:
        with pytest.raises(DBAPIError) as caught:
            loader.connect()
        # psycopg reports connection-time failures as OperationalError with the text
        # of the server's FATAL message (no SQLSTATE is attached at connect time).
        assert f'too many connections for role "{LOADER}"' in str(caught.value.orig)
    finally:
        for conn in held:
            conn.close()


def test_grant_added_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    with engine.begin() as conn:
        conn.execute(text("GRANT SELECT ON auth.users TO reporting_user"))
        conn.execute(text("REVOKE SELECT ON patient_labs FROM med_z1_user"))
    found = check_grants(db_target, role_plan)
    assert "SELECT on auth.users for reporting_user: granted but not declared" in found
    assert "SELECT on public.patient_labs for med_z1_user: missing" in found
    apply_grants(db_target, role_plan)
    assert check_grants(db_target, role_plan) == []


def test_second_apply_changes_nothing(db_target: Target, role_plan: RolePlan) -> None:
    assert apply_grants(db_target, role_plan).repaired == []


def test_table_added_by_a_later_migration_gets_the_policy(
    connect: Callable[[str], Engine], engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("SET ROLE medz1_owner"))
        conn.execute(text("CREATE TABLE public.patient_immunizations (patient_key text)"))
    reporting = connect("reporting")
    assert _sqlstate(reporting, "SELECT * FROM patient_immunizations") is None
    assert _sqlstate(reporting, "DELETE FROM patient_immunizations") == "42501"


def test_public_holds_nothing_on_the_database(engine: Engine) -> None:
    with engine.connect() as conn:
        public = conn.execute(
            text(
                "SELECT count(*) FROM pg_database d, "
                "aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a "
                "WHERE d.datname = current_database() AND a.grantee = 0"
            )
        ).scalar()
    assert public == 0
    assert PUBLIC == "PUBLIC"


def test_grants_check_of_a_database_medz1_did_not_create(
    empty_target: Target, role_plan: RolePlan
) -> None:
    from medz1.ops.database import ensure_database

    ensure_database(empty_target)
    with pytest.raises(NotFoundError, match="holds no medz1 schema"):
        check_grants(empty_target, role_plan)


def test_each_repaired_grant_is_audited(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    with engine.begin() as conn:
        conn.execute(text("GRANT SELECT ON auth.users TO reporting_user"))
    report = apply_grants(db_target, role_plan, audit=True)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT details->>'change' FROM auth.audit_logs WHERE event_type = 'grants_changed' "
                    "ORDER BY chain_seq"
                )
            )
            .scalars()
            .all()
        )
    assert rows == report.repaired
    assert "SELECT on auth.users for reporting_user: granted but not declared" in rows
