"""The audit trail: fail closed (S17), append-only (S18), the hash chain (S19) and retention
(S21).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medz1.auth import audit, checkpoints, login
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.checkpoints import CheckpointLog
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.errors import sqlstate
from medz1.db.target import Target
from medz1.embedded import binary, clean_env
from medz1.errors import DataError, PrivilegeError
from medz1.ops.backup._tools import hosts_and_ports
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.audit import seed_history
from tests.plugins.auth import PASSWORD, Store, report

pytestmark = pytest.mark.db


@pytest.fixture
def auditor(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "auditor", role_plan.passwords)
    yield engine
    engine.dispose()


def _verify(engine: Engine) -> audit.ChainReport:
    with unit_of_work(engine) as session:
        return audit.verify_chain(session)


def _write(store: Store, count: int) -> None:
    with unit_of_work(store.app) as session:
        audit.record(
            session,
            [Event(AuditEvent.LOGIN_FAILED, email=f"x{i}@va.example.org") for i in range(count)],
            now=store.now,  # not stored: the server stamps audit rows
        )


def _sqlstate_of(engine: Engine, statement: str) -> str | None:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return sqlstate(exc)
    return None


# -- S17 ------------------------------------------------------------------------------------


def test_login_fails_closed_when_the_audit_insert_is_refused(store: Store) -> None:
    user = store.create_user()
    with store.admin.begin() as conn:
        conn.execute(text("REVOKE INSERT ON auth.audit_logs FROM med_z1_user"))
    with pytest.raises(PrivilegeError):
        login.login(
            store.app,
            email=user.email,
            password=PASSWORD,
            ip=None,
            user_agent=None,
            now=store.now,
            hasher=store.hasher,
            config=store.config,
        )
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0
    assert store.scalar("SELECT last_login_at FROM auth.users") is None


def test_failed_login_is_not_counted_when_its_audit_row_cannot_be_written(store: Store) -> None:
    user = store.create_user()
    with store.admin.begin() as conn:
        conn.execute(text("REVOKE INSERT ON auth.audit_logs FROM med_z1_user"))
    with pytest.raises(DBAPIError):
        store.attempt(user.email, "a wrong password, twice over")
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 0


# -- S18 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["app", "owner", "auditor"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE auth.audit_logs SET success = true",
        "DELETE FROM auth.audit_logs",
        "TRUNCATE auth.audit_logs",
    ],
)
def test_audit_rows_cannot_be_changed_by_any_role(
    store: Store, role_plan: RolePlan, role: str, statement: str
) -> None:
    _write(store, 3)
    engine = engine_for_role(store.target, role, role_plan.passwords)
    try:
        assert _sqlstate_of(engine, statement) == "42501"
    finally:
        engine.dispose()
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 3


def test_application_cannot_touch_the_chain_head(store: Store) -> None:
    assert _sqlstate_of(store.app, "UPDATE auth.audit_chain_head SET last_seq = 0") == "42501"
    assert _sqlstate_of(store.app, "SELECT * FROM auth.audit_chain_head") == "42501"
    assert _sqlstate_of(store.app, "SELECT auth.purge_audit_logs(3000)") == "42501"


# -- S19 ------------------------------------------------------------------------------------


def test_chain_of_a_fresh_database_verifies_empty(auditor: Engine) -> None:
    chain = _verify(auditor)
    assert chain.ok
    assert chain.rows_checked == 0


def test_med_z1_style_insert_is_chained_and_verifies(store: Store, auditor: Engine) -> None:
    _write(store, 2)
    with store.app.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (user_id, event_type, event_timestamp, email, "
                "ip_address, user_agent, success, failure_reason, session_id) VALUES "
                "(gen_random_uuid(), 'login', CURRENT_TIMESTAMP, 'a@va.example.org', "
                "'10.1.1.1', 'Mozilla/5.0 (ünïcode)', true, NULL, gen_random_uuid())"
            )
        )
    chain = _verify(auditor)
    assert chain.ok
    assert chain.rows_checked == 3
    assert store.scalar("SELECT chain_seq FROM auth.audit_logs WHERE event_type = 'login'") == 3


def test_forged_chain_values_given_by_a_writer_are_replaced(store: Store, auditor: Engine) -> None:
    with store.app.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (event_type, chain_seq, prev_hash, row_hash) "
                "VALUES ('forged', 99, '\\x00', '\\x00')"
            )
        )
    assert store.scalar("SELECT chain_seq FROM auth.audit_logs") == 1
    assert _verify(auditor).ok


def test_rolled_back_insert_leaves_no_gap(store: Store, auditor: Engine) -> None:
    _write(store, 1)
    session = Session(store.app)
    audit.record(session, [Event(AuditEvent.LOGOUT)], now=store.now)
    session.rollback()
    session.close()
    _write(store, 1)
    assert store.scalar("SELECT array_agg(chain_seq ORDER BY chain_seq) FROM auth.audit_logs") == [
        1,
        2,
    ]
    assert _verify(auditor).ok


def _concurrent_writers(store: Store, writers: int, events: int) -> float:
    barrier = threading.Barrier(writers)

    def write(index: int) -> None:
        barrier.wait()
        for i in range(events):
            with unit_of_work(store.app) as session:
                audit.record(
                    session,
                    [Event(AuditEvent.LOGIN_FAILED, email=f"w{index}.{i}@va.example.org")],
                    now=store.now,
                )

    start = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    return time.perf_counter() - start


@pytest.fixture
def log(tmp_path: Path) -> Iterator[CheckpointLog]:
    """A checkpoint log installed as the CLI installs it: every commit is checkpointed."""
    opened = checkpoints.log_for(tmp_path / "data", None, create_key=True)
    assert opened is not None
    with checkpoints.installed(lambda: opened):
        yield opened


def _verify_signed(engine: Engine, log: CheckpointLog) -> audit.ChainReport:
    with unit_of_work(engine) as session:
        return audit.verify_chain(session, checkpoints=log)


def test_32_concurrent_writers_chain_without_a_break(
    store: Store, auditor: Engine, log: CheckpointLog
) -> None:
    elapsed = _concurrent_writers(store, 32, 50)
    chain = _verify_signed(auditor, log)
    report(
        f"S19: 32 writers x 50 events in {elapsed:.1f} s, {chain.checkpoints_checked} "
        f"signed checkpoints, breaks: {0 if chain.ok else 1}"
    )
    assert chain.ok
    assert chain.rows_checked == 1600
    # Group commit: commits that wait together share a line; the newest covers all.
    assert 1 <= chain.checkpoints_checked <= 1600
    assert chain.checkpoint_seq == 1600


@pytest.mark.slow
def test_32_writers_times_1000_events_chain_without_a_break(
    store: Store, auditor: Engine, log: CheckpointLog
) -> None:
    elapsed = _concurrent_writers(store, 32, 1000)
    chain = _verify_signed(auditor, log)
    report(
        f"S19: 32 writers x 1000 events in {elapsed:.1f} s, {chain.checkpoints_checked} "
        f"signed checkpoints, breaks: {0 if chain.ok else 1}"
    )
    assert chain.ok
    assert chain.rows_checked == 32_000
    # Group commit: commits that wait together share a line; the newest covers all.
    assert 1 <= chain.checkpoints_checked <= 32_000
    assert chain.checkpoint_seq == 32_000


# (column, SQL expression that surely differs from the current value)
TAMPERS = [
    ("user_id", "gen_random_uuid()"),
    ("event_type", "'x' || event_type"),
    ("event_timestamp", "event_timestamp + interval '1 microsecond'"),
    ("email", "coalesce(email, '') || 'x'"),
    ("ip_address", "CASE WHEN ip_address = '10.9.9.9' THEN '10.9.9.8' ELSE '10.9.9.9' END"),
    ("user_agent", "coalesce(user_agent, '') || ' '"),
    ("success", "success IS NOT TRUE"),
    ("failure_reason", "coalesce(failure_reason, '') || '.'"),
    ("session_id", "gen_random_uuid()"),
    ("details", """coalesce(details, '{}') || '{"tampered": 1}'"""),
    ("audit_id", "audit_id + 1000000"),
    ("prev_hash", "sha256(prev_hash)"),
    ("row_hash", "sha256(row_hash)"),
    ("chain_seq", "chain_seq + 1000000"),
]


def _varied_rows(store: Store, count: int) -> None:
    rng = random.Random(7)
    with unit_of_work(store.app) as session:
        audit.record(
            session,
            [
                Event(
                    rng.choice(list(AuditEvent)),
                    user_id=None if i % 3 else uuid.uuid4(),
                    email=rng.choice([None, f"u{i}@va.example.org"]),
                    ip_address=rng.choice([None, "10.0.0.1", "::1"]),
                    user_agent=rng.choice([None, "Mozilla/5.0", "Grüße ✓"]),
                    success=rng.choice([None, True, False]),
                    failure_reason=rng.choice([None, "wrong_password"]),
                    details=rng.choice([None, {"n": i, "s": "ü"}]),
                )
                for i in range(count)
            ],
            now=store.now + timedelta(microseconds=rng.randrange(10**9)),
        )


def _tamper_once(
    session: Session, audit_id: int, column: str, expression: str
) -> audit.ChainBreak | None:
    session.execute(text("SET LOCAL session_replication_role = replica"))
    session.execute(
        text(
            sql.SQL("UPDATE auth.audit_logs SET {} = {} WHERE audit_id = :a")
            .format(sql.Identifier(column), sql.SQL(expression))
            .as_string()
        ),
        {"a": audit_id},
    )
    return audit.verify_chain(session).first_break


def test_1000_random_tamper_trials_are_all_detected(store: Store) -> None:
    _varied_rows(store, 150)
    with store.admin.connect() as conn:
        ids = list(conn.execute(text("SELECT audit_id FROM auth.audit_logs")).scalars())
    rng = random.Random(2026)
    detected = named = 0
    session = Session(store.admin)
    for _ in range(1000):
        audit_id, (column, expression) = rng.choice(ids), rng.choice(TAMPERS)
        found = _tamper_once(session, audit_id, column, expression)
        session.rollback()
        if found is None:
            continue
        detected += 1
        moved = {"audit_id": audit_id + 1_000_000}.get(column, audit_id)
        # A moved chain_seq breaks the chain at the row after the gap, not at this one.
        named += found.audit_id == moved or column == "chain_seq"
    session.close()
    report(f"S19: {detected}/1000 tamper trials detected, {named} naming the tampered row")
    assert detected == named == 1000


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_deleted_row_is_detected(store: Store, where: str) -> None:
    _write(store, 10)
    seq = {"first": 1, "middle": 5, "last": 10}[where]
    with unit_of_work(store.admin) as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(text("DELETE FROM auth.audit_logs WHERE chain_seq = :s"), {"s": seq})
        report = audit.verify_chain(session)
        session.rollback()
    assert report.first_break is not None
    assert report.first_break.chain_seq == seq + (where != "last")


def test_chain_still_verifies_after_backup_and_restore(store: Store, tmp_path: Path) -> None:
    _varied_rows(store, 50)
    url = store.target.url
    host, port = hosts_and_ports(url)
    dump = f"{tmp_path}/audit.dump"
    restored = f"{url.database}_restored"
    common = ["-h", str(host), "-p", port or "5432", "-U", str(url.username)]
    env = clean_env() | ({"PGPASSWORD": url.password} if url.password else {})
    pg_bin = {name: str(binary(name)) for name in ("pg_dump", "pg_restore")}
    pg_dump = [pg_bin["pg_dump"], *common, "-Fc", "-f", dump, str(url.database)]
    subprocess.run(pg_dump, check=True, env=env)  # noqa: S603 - the bundled binary
    admin = make_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{restored}" TEMPLATE template0'))
    try:
        pg_restore = [pg_bin["pg_restore"], *common, "-d", restored, dump]
        subprocess.run(pg_restore, check=True, env=env)  # noqa: S603 - the bundled binary
        copy = make_engine(url.set(database=restored))
        chain = _verify(copy)
        copy.dispose()
        assert chain.ok
        assert chain.rows_checked == 50
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))
        admin.dispose()


# -- S21 ------------------------------------------------------------------------------------


def test_purge_at_seven_years_deletes_nothing_younger_than_2192_days(
    store: Store, auditor: Engine
) -> None:
    real_now = datetime.now(UTC)
    # one row a month, oldest first, over seven years
    seed_history(store, [real_now - timedelta(days=30.4 * month) for month in range(84, -1, -1)])
    cutoff = real_now - timedelta(days=2192)
    old = store.scalar("SELECT count(*) FROM auth.audit_logs WHERE event_timestamp < :c", c=cutoff)
    with unit_of_work(auditor) as session:
        deleted = audit.purge(session, retention_days=2192)
    young_left = store.scalar(
        "SELECT count(*) FROM auth.audit_logs WHERE event_timestamp >= :c AND event_type <> 'audit_purged'",
        c=cutoff,
    )
    report(f"S21: purged {deleted} rows older than 2192 days, kept {young_left} younger ones")
    assert deleted == old > 0
    assert young_left == 85 - old
    assert store.events("audit_purged") == 1
    chain = _verify(auditor)
    assert chain.ok
    assert chain.anchor_seq == old
    assert chain.purged_rows == old


def test_purge_keeps_old_rows_that_follow_a_young_one(store: Store, auditor: Engine) -> None:
    real_now = datetime.now(UTC)
    # the third row is back-dated, after a young row
    seed_history(
        store, [real_now - timedelta(days=3000), real_now, real_now - timedelta(days=3000)]
    )
    with unit_of_work(auditor) as session:
        assert audit.purge(session, retention_days=2192) == 1
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 3  # 2 kept + audit_purged
    assert _verify(auditor).ok


def test_purge_below_six_years_is_refused(store: Store, auditor: Engine) -> None:
    with pytest.raises(DataError, match="2192"), unit_of_work(auditor) as session:
        audit.purge(session, retention_days=2191)
    assert _sqlstate_of(auditor, "SELECT auth.purge_audit_logs(30)") == "22023"


def test_young_rows_cannot_be_deleted_even_with_the_purge_flag(
    store: Store, role_plan: RolePlan
) -> None:
    _write(store, 2)
    owner = engine_for_role(store.target, "owner", role_plan.passwords)
    try:
        with owner.begin() as conn:
            conn.execute(text("SELECT set_config('medz1.audit_purge', 'on', true)"))
            with pytest.raises(DBAPIError) as caught:
                conn.execute(text("DELETE FROM auth.audit_logs"))
        assert sqlstate(caught.value) == "42501"
    finally:
        owner.dispose()


def test_grant_changes_are_audited(store: Store) -> None:
    with unit_of_work(store.app) as session:
        written = audit.record_grant_changes(
            session, changes=["SELECT on auth.users for med_z1_user: missing"], now=store.now
        )
    assert written == 1
    assert store.events("grants_changed") == 1
