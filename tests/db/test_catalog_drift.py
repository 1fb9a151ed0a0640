"""``medz1 check`` sees every drift that weakens a protection: CHECK constraints, function
bodies and settings, triggers, row security, undeclared objects of every kind, password
hashes below the S1 floor, and connection limits the server cannot hold (S36).
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.target import Target
from medz1.errors import ConfigurationError
from medz1.models import SCHEMAS
from medz1.ops.check import check
from medz1.ops.grants import apply_grants
from medz1.provision import catalog
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP, REPORTING, RoleLimits, role_specs
from tests.plugins.database import ADMIN_ROLE

pytestmark = pytest.mark.db

_OWNER = "SET ROLE medz1_owner"


def _run(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _differences(target: Target, role_plan: RolePlan | None = None) -> list[str]:
    report = check(target, role_plan)
    assert not report.ok
    return report.differences


def test_declared_catalog_is_up_to_date(engine: Engine) -> None:
    with engine.connect() as conn:
        fresh = catalog.snapshot(conn, tuple(SCHEMAS))
    assert fresh == catalog.declared(), f"catalog.json is stale: run `{catalog.REGENERATE}`"


def test_fresh_database_has_no_catalog_password_or_connection_finding(
    db_target: Target, role_plan: RolePlan
) -> None:
    report = check(db_target, role_plan)
    failed = {f.name for f in report.findings if not f.ok}
    assert not failed & {"catalog", "passwords", "connections"}, report.differences


_CK = "auth.users.ck_users_failed_login_attempts_nonnegative"


@pytest.mark.parametrize(
    ("statements", "line"),
    [
        (
            ["ALTER TABLE auth.users DROP CONSTRAINT ck_users_failed_login_attempts_nonnegative"],
            f"check constraint {_CK}: declared but missing",
        ),
        (
            [
                "ALTER TABLE auth.users DROP CONSTRAINT ck_users_failed_login_attempts_nonnegative",
                "ALTER TABLE auth.users ADD CONSTRAINT ck_users_failed_login_attempts_nonnegative "
                "CHECK (failed_login_attempts >= -5)",
            ],
            f"check constraint {_CK}: is CHECK ((failed_login_attempts >= '-5'::integer)), "
            "declared CHECK ((failed_login_attempts >= 0))",
        ),
        (
            [
                "ALTER TABLE auth.users DROP CONSTRAINT ck_users_failed_login_attempts_nonnegative",
                "ALTER TABLE auth.users ADD CONSTRAINT ck_users_failed_login_attempts_nonnegative "
                "CHECK (failed_login_attempts >= 0) NOT VALID",
            ],
            f"check constraint {_CK}: NOT VALID (existing rows never checked)",
        ),
        (
            ["ALTER TABLE auth.sessions ADD CONSTRAINT ck_extra CHECK (true)"],
            "check constraint auth.sessions.ck_extra: in the database, not declared",
        ),
    ],
)
def test_check_constraint_drift_is_reported(
    db_target: Target, engine: Engine, statements: list[str], line: str
) -> None:
    _run(engine, *statements)
    assert line in _differences(db_target)


def test_replaced_function_body_is_reported(db_target: Target, engine: Engine) -> None:
    _run(
        engine,
        _OWNER,
        "CREATE OR REPLACE FUNCTION auth.refuse_audit_change() RETURNS trigger "
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
        "AS $$ BEGIN RETURN NEW; END $$",
    )
    assert (
        "function auth.refuse_audit_change(): definition (body) differs from the declared one"
        in (_differences(db_target))
    )


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "ALTER FUNCTION auth.refuse_audit_change() SECURITY INVOKER",
            "function auth.refuse_audit_change(): SECURITY DEFINER is False, declared True",
        ),
        (
            "ALTER FUNCTION auth.refuse_audit_change() RESET search_path",
            "function auth.refuse_audit_change(): settings (SET ...) is [], declared "
            "['search_path=pg_catalog, pg_temp']",
        ),
        (
            "ALTER FUNCTION auth.audit_chain_row() STABLE",
            "function auth.audit_chain_row(): volatility is s, declared v",
        ),
        (
            f"ALTER FUNCTION auth.audit_chain_row() OWNER TO {ADMIN_ROLE}",
            f"function auth.audit_chain_row(): owner is {ADMIN_ROLE}, declared medz1_owner",
        ),
    ],
)
def test_function_property_drift_is_reported(
    db_target: Target, engine: Engine, statement: str, line: str
) -> None:
    _run(engine, statement)
    assert line in _differences(db_target)


def test_function_shadowing_a_builtin_is_reported(db_target: Target, engine: Engine) -> None:
    _run(
        engine,
        _OWNER,
        "CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql IMMUTABLE "
        "AS $$ SELECT 'someone-else@example.org' $$",
    )
    assert (
        "function public.lower(character varying): in the database, not declared "
        "(shadows the built-in pg_catalog.lower)"
    ) in _differences(db_target)


_TRIGGER = "trigger auth.audit_logs.audit_logs_append_only_row"


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "ALTER TABLE auth.audit_logs DISABLE TRIGGER audit_logs_append_only_row",
            f"{_TRIGGER}: disabled, declared enabled",
        ),
        (
            "ALTER TABLE auth.audit_logs ENABLE REPLICA TRIGGER audit_logs_append_only_row",
            f"{_TRIGGER}: enabled on replicas only, declared enabled",
        ),
        (
            "DROP TRIGGER audit_logs_append_only_row ON auth.audit_logs",
            f"{_TRIGGER}: declared but missing",
        ),
        (
            "CREATE TRIGGER audit_logs_extra BEFORE INSERT ON auth.audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION auth.refuse_audit_change()",
            "trigger auth.audit_logs.audit_logs_extra: in the database, not declared",
        ),
    ],
)
def test_trigger_drift_is_reported(
    db_target: Target, engine: Engine, statement: str, line: str
) -> None:
    _run(engine, statement)
    assert line in _differences(db_target)


def test_trigger_recreated_for_fewer_events_is_reported(db_target: Target, engine: Engine) -> None:
    _run(
        engine,
        "DROP TRIGGER audit_logs_append_only_row ON auth.audit_logs",
        "CREATE TRIGGER audit_logs_append_only_row BEFORE DELETE ON auth.audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION auth.refuse_audit_change()",
    )
    assert any(d.startswith(f"{_TRIGGER}: definition is ") for d in _differences(db_target))


def test_row_security_and_policy_made_by_hand_are_reported(
    db_target: Target, engine: Engine
) -> None:
    _run(
        engine,
        "ALTER TABLE public.patient_labs DISABLE ROW LEVEL SECURITY",
        "CREATE POLICY everyone ON public.patient_labs USING (true)",
    )
    found = _differences(db_target)
    assert "policy public.patient_labs.everyone: in the database, not declared" in found
    # Station scoping (migration 0010) declares it enabled and forced.
    assert any(d.startswith("row security on public.patient_labs: enabled False") for d in found)


@pytest.mark.parametrize(
    ("statements", "line"),
    [
        (["CREATE VIEW public.everything AS SELECT 1 AS x"], "view public.everything"),
        (
            ["CREATE MATERIALIZED VIEW auth.copy AS SELECT 1 AS x"],
            "materialized view auth.copy",
        ),
        (["CREATE SEQUENCE admin.counter"], "sequence admin.counter"),
        (["CREATE DOMAIN public.short AS int"], "type public.short"),
        (["CREATE TYPE public.mood AS ENUM ('calm')"], "type public.mood"),
        (
            ["CREATE COLLATION public.bytewise (provider = libc, locale = 'C')"],
            "collation public.bytewise",
        ),
        (
            ["CREATE TEXT SEARCH CONFIGURATION public.plain (COPY = simple)"],
            "text search configuration public.plain",
        ),
        (
            ["CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)"],
            "operator public.===(integer,integer)",
        ),
        (
            ["CREATE AGGREGATE public.total(int) (SFUNC = int4pl, STYPE = int)"],
            "function public.total(integer)",
        ),
        (
            ["CREATE PROCEDURE auth.wipe() LANGUAGE sql AS $$ SELECT 1 $$"],
            "function auth.wipe()",
        ),
        (
            [
                "CREATE STATISTICS public.names ON name_last, name_first FROM public.patient_demographics"
            ],
            "statistics object public.names",
        ),
        (
            ["CREATE RULE swallow AS ON INSERT TO public.patient_flags DO INSTEAD NOTHING"],
            "rule swallow on public.patient_flags",
        ),
        (["CREATE SCHEMA sneaky"], "schema sneaky"),
        (
            [
                "CREATE TYPE public.mood AS ENUM ('calm')",
                "CREATE CAST (public.mood AS int4) WITH INOUT",
            ],
            "cast (public.mood AS integer)",
        ),
        pytest.param(
            [
                "CREATE FOREIGN DATA WRAPPER quiet",
                "CREATE SERVER elsewhere FOREIGN DATA WRAPPER quiet",
            ],
            "server elsewhere",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
        pytest.param(
            ["CREATE PUBLICATION everything FOR ALL TABLES"],
            "publication everything",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
        (["SELECT lo_create(434343)"], "large object 434343"),
        pytest.param(
            [
                "CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql "
                "AS $$ BEGIN END $$",
                "CREATE EVENT TRIGGER watch ON ddl_command_start EXECUTE FUNCTION public.on_ddl()",
            ],
            "event trigger watch",
            marks=pytest.mark.embedded_only(
                "makes the drift with a statement only a superuser may run"
            ),
        ),
    ],
)
def test_undeclared_object_is_reported(
    db_target: Target, engine: Engine, statements: list[str], line: str
) -> None:
    _run(engine, *statements)
    assert f"{line}: in the database, not declared" in _differences(db_target)


_BCRYPT = "$2b$12$" + "C" * 53
_WEAK_ARGON2 = "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$" + "A" * 43


def test_password_hashes_below_the_floor_are_counted(db_target: Target, engine: Engine) -> None:
    _run(
        engine,
        "INSERT INTO auth.users (email, password_hash, display_name) VALUES "
        f"('a@example.org', '{_BCRYPT}', 'A'), ('b@example.org', '{_BCRYPT}', 'B'), "
        f"('c@example.org', '{_WEAK_ARGON2}', 'C')",
    )
    found = _differences(db_target)
    assert "2 user(s) with a legacy password hash (not argon2id; replaced at their next login)" in (
        found
    )
    assert "1 user(s) with an argon2id hash below the floor (m >= 19 MiB, t >= 2, p >= 1)" in found
    assert not any("example.org" in d or "$2b$" in d or "argon2id$" in d for d in found)


def test_connection_limits_above_the_servers_slots_are_reported(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(engine, "ALTER ROLE med_z1_user CONNECTION LIMIT 100")
    try:
        found = _differences(db_target)
    finally:
        apply_grants(db_target, role_plan)
    assert any(d.startswith("the login roles' connection limits add up to 119") for d in found)


@pytest.mark.parametrize("limit", [100, -1])
def test_grants_apply_refuses_limits_the_server_cannot_hold(
    db_target: Target, role_plan: RolePlan, limit: int
) -> None:
    greedy = RolePlan(
        specs=role_specs({APP: RoleLimits(30_000, 60_000, limit)}),
        matrix=role_plan.matrix,
        passwords=role_plan.passwords,
    )
    with pytest.raises(ConfigurationError, match=r"max_connections|unlimited"):
        apply_grants(db_target, greedy)


def _strict(role_plan: RolePlan, role: str, limits: RoleLimits) -> RolePlan:
    return RolePlan(
        specs=role_specs({role: limits}), matrix=role_plan.matrix, passwords=role_plan.passwords
    )


@pytest.mark.embedded_only(
    "reads other roles' sessions in pg_stat_activity (pg_read_all_stats), which the "
    "managed-style administrator does not hold"
)
def test_transaction_idling_past_a_raised_timeout_is_reported(
    db_target: Target, role_plan: RolePlan
) -> None:
    app = engine_for_role(db_target, "app", role_plan.passwords)
    try:
        with app.connect() as conn:
            conn.execute(text("SET idle_in_transaction_session_timeout = 0"))
            conn.execute(text("SELECT 1"))  # the transaction stays open, idle
            report = check(db_target, _strict(role_plan, APP, RoleLimits(30_000, 1, 60)))
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    finally:
        app.dispose()
    sessions = next(f for f in report.findings if f.name == "sessions")
    assert any(d.startswith(f"role {APP}: transaction idle for ") for d in sessions.differences)
    assert any(f"in backend {pid}," in d for d in sessions.differences)


def _wait_until_sleeping(engine: Engine) -> None:
    for _ in range(1200):
        with engine.connect() as conn:  # a new transaction: a fresh activity snapshot
            if conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = :r "
                    "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
                ),
                {"r": REPORTING},
            ).scalar():
                return
        time.sleep(0.05)
    pytest.fail("the reporting session never started its statement")


@pytest.mark.embedded_only(
    "watches another role's statement in pg_stat_activity (pg_read_all_stats), which the "
    "managed-style administrator does not hold"
)
def test_statement_running_past_a_raised_timeout_is_reported(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    reporting = engine_for_role(db_target, "reporting", role_plan.passwords)

    def sleep() -> None:
        with reporting.connect() as conn:
            conn.execute(text("SET statement_timeout = 0"))
            with pytest.raises(DBAPIError):  # cancelled below, once checked
                conn.execute(text("SELECT pg_sleep(30)"))

    worker = threading.Thread(target=sleep)
    worker.start()
    try:
        _wait_until_sleeping(engine)
        report = check(db_target, _strict(role_plan, REPORTING, RoleLimits(1, 60_000, 10)))
    finally:
        with engine.connect() as conn:
            conn.execute(
                text("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": REPORTING},
            )
        worker.join()
        reporting.dispose()
    sessions = next(f for f in report.findings if f.name == "sessions")
    assert any(
        d.startswith(f"role {REPORTING}: statement running for ") for d in sessions.differences
    )
    assert not any("pg_sleep" in d for d in sessions.differences)


def test_every_check_constraint_reads_back_to_itself(engine: Engine) -> None:
    """A CHECK constraint is restored from its printed definition (``pg_dump`` prints
    ``pg_get_constraintdef``): each must parse back to the same text, or ``medz1 check``
    reports a restored database as drifted (a ``varchar IN (...)`` list did not).
    """
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT n.nspname, t.relname, c.conname, pg_get_constraintdef(c.oid) "
                "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE c.contype = 'c' AND n.nspname = ANY(:schemas) ORDER BY 1, 2, 3"
            ),
            {"schemas": list(SCHEMAS)},
        ).all()
        assert rows
        unstable = []
        for schema, table, name, definition in rows:
            conn.execute(text("SAVEPOINT again"))
            conn.execute(text(f'CREATE TEMP TABLE again (LIKE "{schema}"."{table}")'))
            conn.execute(text(f"ALTER TABLE again ADD CONSTRAINT again_ck {definition} NOT VALID"))
            reread = conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = 'again_ck' AND conrelid = 'again'::regclass"
                )
            ).scalar_one()
            conn.execute(text("ROLLBACK TO SAVEPOINT again"))
            if reread.removesuffix(" NOT VALID") != definition.removesuffix(" NOT VALID"):
                unstable.append(f"{schema}.{table}.{name}: {definition} -> {reread}")
        assert unstable == []
