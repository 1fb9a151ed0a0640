"""Driver errors become typed errors by SQLSTATE, each caused for real on the bundled server.

Every data and integrity refusal names its constraint, table or column and never the value
that was refused; timeouts, lock and serialisation failures, connection limits and
shutdowns get a message of their own instead of "cannot connect".
"""

from __future__ import annotations

import threading

import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import (
    ConnectionFailedError,
    DatabaseServerError,
    DataError,
    Medz1Error,
    RetryableError,
)
from medz1.provision.credentials import RolePlan
from tests.plugins.database import MANAGED, unique_number
from tests.plugins.synthetic import app_engine

pytestmark = pytest.mark.db

SENTINEL = "Quixotebergh-078-05-1120"


@pytest.fixture
def scratch(engine: Engine) -> Engine:
    """The test database with a table ``t`` whose constraints each refuse something."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE parent (id int PRIMARY KEY);"
                "CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY, "
                "ssn varchar(11) NOT NULL CONSTRAINT t_ssn_uq UNIQUE, "
                "age int CONSTRAINT t_age_ck CHECK (age >= 0), "
                "parent int CONSTRAINT t_parent_fk REFERENCES parent(id));"
                "INSERT INTO t VALUES (1, '078-05-1120', 1, NULL)"
            )
        )
    return engine


def _in_one_transaction(engine: Engine, *statements: str, pause: float = 0.0) -> None:
    """Run ``statements`` in one transaction, pausing before the last, through translated()."""
    with translated(), engine.connect() as conn, conn.begin():
        for statement in statements[:-1]:
            conn.execute(text(statement))
        threading.Event().wait(pause)
        conn.execute(text(statements[-1]))


def _refusal(engine: Engine, statement: str, **params: object) -> Medz1Error:
    with pytest.raises(Medz1Error) as raised, translated(), engine.begin() as conn:
        conn.execute(text(statement), params)
    return raised.value


@pytest.mark.parametrize(
    ("statement", "params", "names"),
    [
        ("INSERT INTO t VALUES (2, :v, 1, NULL)", {"v": "078-05-1120"}, "t_ssn_uq"),
        ("INSERT INTO t VALUES (2, :v, -1, NULL)", {"v": "219-09-9999"}, "t_age_ck"),
        ("INSERT INTO t VALUES (2, NULL, 1, NULL)", {}, 'column "ssn"'),
        ("INSERT INTO t VALUES (2, :v, 1, 7)", {"v": "219-09-9999"}, "t_parent_fk"),
        ("INSERT INTO t VALUES (2, :v, 1, NULL)", {"v": SENTINEL}, "string data right"),
        ("SELECT CAST(:v AS int)", {"v": SENTINEL}, "invalid text representation"),
        ("SELECT CAST(:v AS date)", {"v": SENTINEL}, "invalid"),
        ("SELECT CAST(:v AS numeric(2))", {"v": "123456789"}, "numeric value out of range"),
        ("SELECT 1 / (CAST(:v AS int) - 7)", {"v": "7"}, "division by zero"),
    ],
    ids=["unique", "check", "not-null", "foreign-key", "too-long", "text", "date", "range", "div"],
)
def test_data_and_integrity_refusals_are_data_errors_naming_no_value(
    scratch: Engine, statement: str, params: dict[str, object], names: str
) -> None:
    error = _refusal(scratch, statement, **params)
    assert isinstance(error, DataError)
    assert error.exit_code == 8
    assert names in str(error)
    assert "078-05-1120" not in str(error)
    assert "219-09-9999" not in str(error)
    assert "Quixotebergh" not in str(error)
    assert "Failing row" not in str(error)


def test_statement_timeout_names_the_roles_setting(db_target: Target, role_plan: RolePlan) -> None:
    with app_engine(db_target, role_plan) as app, pytest.raises(DatabaseServerError) as raised:
        _in_one_transaction(app, "SET LOCAL statement_timeout = 50", "SELECT pg_sleep(2)")
    assert "statement_timeout" in str(raised.value)
    assert "MEDZ1_APP_STATEMENT_TIMEOUT_MS" in raised.value.hint
    assert raised.value.exit_code == 3
    assert "cannot connect" not in str(raised.value)


def test_idle_in_transaction_timeout_is_not_a_connection_failure(engine: Engine) -> None:
    one = make_engine(engine.url, poolclass=NullPool)
    with pytest.raises(DatabaseServerError) as raised:
        _in_one_transaction(
            one, "SET idle_in_transaction_session_timeout = 100", "SELECT 1", pause=1.0
        )
    one.dispose()
    assert "idle in transaction" in str(raised.value)
    assert "IDLE_IN_TRANSACTION_TIMEOUT_MS" in raised.value.hint


def test_lock_not_available_is_retryable(scratch: Engine) -> None:
    with scratch.connect() as holder:
        holder.execute(text("SELECT * FROM t WHERE id = 1 FOR UPDATE"))
        with pytest.raises(RetryableError) as raised:
            _in_one_transaction(scratch, "SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT")
        holder.rollback()
    assert "lock not available" in str(raised.value)
    assert raised.value.retryable


def _lost_update(engine: Engine) -> None:
    rr = engine.execution_options(isolation_level="REPEATABLE READ")
    with translated(), rr.begin() as reader:
        reader.execute(text("SELECT age FROM t WHERE id = 1"))
        with engine.begin() as writer:
            writer.execute(text("UPDATE t SET age = 2 WHERE id = 1"))
        reader.execute(text("UPDATE t SET age = 3 WHERE id = 1"))


def test_serialization_failure_is_retryable(scratch: Engine) -> None:
    with pytest.raises(RetryableError) as raised:
        _lost_update(scratch)
    assert "serialization failure" in str(raised.value)


def test_deadlock_is_retryable(scratch: Engine) -> None:
    with scratch.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2, '2', 1, NULL)"))
    failures: list[BaseException] = []

    def lock_both(first: int, second: int, ready: threading.Barrier) -> None:
        try:
            with translated(), scratch.begin() as conn:
                if not MANAGED:  # a superuser's parameter; elsewhere the 1 s default
                    conn.execute(text("SET LOCAL deadlock_timeout = 100"))
                conn.execute(text("UPDATE t SET age = age WHERE id = :i"), {"i": first})
                ready.wait(10)
                conn.execute(text("UPDATE t SET age = age WHERE id = :i"), {"i": second})
        except Medz1Error as exc:
            failures.append(exc)

    ready = threading.Barrier(2)
    threads = [threading.Thread(target=lock_both, args=(a, b, ready)) for a, b in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(failures) == 1
    assert isinstance(failures[0], RetryableError)
    assert "deadlock detected" in str(failures[0])


def _terminated_session(engine: Engine) -> None:
    one = make_engine(engine.url, poolclass=NullPool, pool_pre_ping=False)
    try:
        with translated(), one.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
            conn.execute(text("SELECT 1"))
    finally:
        one.dispose()


def test_admin_shutdown_of_the_session_is_retryable(engine: Engine) -> None:
    with pytest.raises(RetryableError) as raised:
        _terminated_session(engine)
    assert "admin shutdown" in str(raised.value)


def _second_connection(engine: Engine) -> None:
    with engine.connect(), translated(), engine.connect():
        pass


def test_refused_connection_over_the_role_limit_hints_at_connection_limits(
    engine: Engine, db_target: Target
) -> None:
    role = f"medz1_limited_{unique_number()}"
    ident = sql.Identifier(role).as_string()
    with engine.connect() as admin:
        admin.execute(text(f"CREATE ROLE {ident} LOGIN PASSWORD 'limit-pw-1' CONNECTION LIMIT 1"))
        admin.execute(text(f"GRANT CONNECT ON DATABASE {db_target.url.database} TO {ident}"))
        admin.commit()
    limited = make_engine(
        db_target.url.set(username=role, password="limit-pw-1"), poolclass=NullPool
    )
    try:
        with pytest.raises(ConnectionFailedError) as raised:
            _second_connection(limited)
    finally:
        limited.dispose()
        with engine.connect() as admin:
            admin.execute(text(f"REVOKE ALL ON DATABASE {db_target.url.database} FROM {ident}"))
            admin.execute(text(f"DROP ROLE {ident}"))
            admin.commit()
    assert raised.value.exit_code == 3
    # libpq gives no SQLSTATE for a refusal during the connection's start-up: the hint of
    # every refused connection names the limits.
    assert "CONNECTION_LIMIT" in raised.value.hint


def test_engines_hide_bound_parameters(engine: Engine) -> None:
    with pytest.raises(sa_exc.DataError) as raised, engine.connect() as conn:
        conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": SENTINEL})
    assert "[SQL:" in str(raised.value)
    assert SENTINEL not in str(raised.value)
