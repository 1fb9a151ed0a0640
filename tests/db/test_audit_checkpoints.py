"""Tamper evidence the database cannot rewrite (S19): signed checkpoints outside the
database, server-assigned ids and times, the purge escape tied to the purge (S18, S21).
"""

from __future__ import annotations

import json
import os
import random
import re
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medz1.auth import audit, checkpoints
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.checkpoints import CheckpointLog
from medz1.db.engine import unit_of_work
from medz1.db.errors import sqlstate
from medz1.db.target import Target
from medz1.errors import ConfigurationError, DataError
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.audit import rewind, rewrite_from, seed_history
from tests.plugins.auth import Store, report

pytestmark = pytest.mark.db


@pytest.fixture
def owner(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "owner", role_plan.passwords)
    yield engine
    engine.dispose()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[CheckpointLog]:
    """The checkpoint log of a fresh data directory, installed as the CLI installs it."""
    opened = checkpoints.log_for(tmp_path / "data", None, create_key=True)
    assert opened is not None
    with checkpoints.installed(lambda: opened):
        yield opened


def _write(store: Store, count: int = 1, *, epoch: str | None = None) -> None:
    with unit_of_work(store.app) as session:
        audit.record(
            session,
            [Event(AuditEvent.LOGIN_FAILED, email=f"x{i}@va.example.org") for i in range(count)],
            new_epoch=epoch,
        )


def _verify(store: Store, log: CheckpointLog | None) -> audit.ChainReport:
    with unit_of_work(store.admin) as session:
        return audit.verify_chain(session, checkpoints=log)


def _kind(store: Store, log: CheckpointLog) -> str | None:
    found = _verify(store, log).first_break
    return None if found is None else found.kind


def test_each_committed_audit_write_appends_one_signed_checkpoint(
    store: Store, log: CheckpointLog
) -> None:
    for count in (1, 3, 2):
        _write(store, count)
    session = Session(store.app)
    audit.record(session, [Event(AuditEvent.LOGOUT)])
    session.rollback()  # rolled back: no checkpoint
    session.close()
    scan = log.scan(str(store.target.url.database))
    assert [point.seq for point in scan.current] == [1, 4, 6]
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    key_file = log.path.parent.parent / checkpoints.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _verify(store, log).checkpoints_checked == 3


def test_owner_rewind_of_the_newest_rows_is_detected(
    store: Store, owner: Engine, log: CheckpointLog
) -> None:
    for _ in range(5):
        _write(store, 2)
    with unit_of_work(owner) as session:
        rewind(session, keep=6)
    assert _verify(store, None).ok  # the shortened chain verifies by itself
    found = _verify(store, log).first_break
    assert found is not None
    assert (found.kind, found.chain_seq) == ("rewind", 8)


def test_owner_rewrite_with_recomputed_hashes_is_detected(
    store: Store, owner: Engine, log: CheckpointLog
) -> None:
    for _ in range(5):
        _write(store, 2)
    with unit_of_work(owner) as session:
        rewrite_from(session, 3)
    assert _verify(store, None).ok  # recomputed with the trigger's formula
    found = _verify(store, log).first_break
    assert found is not None
    assert (found.kind, found.chain_seq) == ("rewrite", 4)  # the first checkpoint after it


def test_rows_beyond_the_chain_head_are_verified(store: Store, owner: Engine) -> None:
    _write(store, 5)
    with owner.begin() as conn:  # the head moved back, the rows left in place
        conn.execute(
            text(
                "UPDATE auth.audit_chain_head SET last_seq = 3, "
                "last_hash = (SELECT row_hash FROM auth.audit_logs WHERE chain_seq = 3)"
            )
        )
    found = _verify(store, None).first_break
    assert found is not None
    assert found.chain_seq == 4


def _append_raw(log: CheckpointLog, line: str) -> None:
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def test_checkpoint_signed_with_another_key_is_detected(store: Store, log: CheckpointLog) -> None:
    _write(store, 3)
    other = CheckpointLog(log.path, os.urandom(32))
    other.append(database=str(store.target.url.database), seq=2, row_hash=bytes(32))
    found = _verify(store, log).first_break
    assert found is not None
    assert found.kind == "forged_checkpoint"
    assert "line 2" in found.reason


def test_altered_checkpoint_line_is_detected(store: Store, log: CheckpointLog) -> None:
    _write(store, 3)
    _write(store, 1)
    lines = log.path.read_text().splitlines()
    fields = json.loads(lines[0])
    fields["seq"] = 2  # moved to another row, signature kept
    log.path.write_text("\n".join([json.dumps(fields), *lines[1:]]) + "\n")
    found = _verify(store, log).first_break
    assert found is not None
    assert (found.kind, "line 1" in found.reason) == ("forged_checkpoint", True)


def test_deleted_checkpoint_file_is_detected(store: Store, log: CheckpointLog) -> None:
    _write(store, 2)
    log.path.unlink()
    assert _kind(store, log) == "checkpoints_missing"


def test_deleted_checkpoint_file_is_not_silently_restarted(
    store: Store, log: CheckpointLog
) -> None:
    _write(store, 2)
    log.path.unlink()
    _write(store, 1)  # the next write finds the key but no file
    assert log.path.exists()
    assert _kind(store, log) == "checkpoints_missing"


def test_empty_chain_without_checkpoints_verifies(store: Store, log: CheckpointLog) -> None:
    assert _verify(store, log).ok


def test_new_epoch_lets_a_deliberate_rewind_verify(
    store: Store, owner: Engine, log: CheckpointLog
) -> None:
    for _ in range(3):
        _write(store, 2)
    with unit_of_work(owner) as session:  # what restoring an older backup does
        rewind(session, keep=2)
    assert _kind(store, log) == "rewind"
    _write(store, 1, epoch="restore")
    chain = _verify(store, log)
    assert chain.ok
    assert (chain.checkpoints_checked, chain.checkpoint_seq) == (1, 3)


def test_purge_is_checkpointed_and_still_verifies(
    store: Store, log: CheckpointLog, db_target: Target, role_plan: RolePlan
) -> None:
    seed_history(store, [datetime.now(UTC) - timedelta(days=3000)] * 3)
    _write(store, 2)
    auditor = engine_for_role(db_target, "auditor", role_plan.passwords)
    try:
        with unit_of_work(auditor) as session:
            assert audit.purge(session, retention_days=2192) == 3
    finally:
        auditor.dispose()
    chain = _verify(store, log)
    assert chain.ok, chain.first_break
    assert chain.checkpoint_seq == 6  # the audit_purged row


def test_owner_purge_of_young_rows_is_detected(
    store: Store, owner: Engine, log: CheckpointLog
) -> None:
    for _ in range(5):
        _write(store, 1)
    with owner.begin() as conn:  # a purge done by hand, anchor moved past young rows
        conn.execute(text("ALTER TABLE auth.audit_logs DISABLE TRIGGER USER"))
        conn.execute(
            text(
                "UPDATE auth.audit_chain_head SET anchor_seq = 3, purged_rows = 3, "
                "anchor_hash = (SELECT row_hash FROM auth.audit_logs WHERE chain_seq = 3)"
            )
        )
        conn.execute(text("DELETE FROM auth.audit_logs WHERE chain_seq <= 3"))
        conn.execute(text("ALTER TABLE auth.audit_logs ENABLE TRIGGER USER"))
    assert _verify(store, None).ok  # the rest of the chain verifies by itself
    found = _verify(store, log).first_break
    assert found is not None
    assert (found.kind, found.chain_seq) == ("purged_early", 1)


def test_audit_write_fails_closed_when_a_trigger_swallows_rows(store: Store, owner: Engine) -> None:
    with owner.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION auth.swallow() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NULL; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER a_swallow BEFORE INSERT ON auth.audit_logs FOR EACH ROW "
                "WHEN (NEW.event_type = 'login_failed') EXECUTE FUNCTION auth.swallow()"
            )
        )
    with pytest.raises(DataError, match="1 of 2 audit row"), unit_of_work(store.app) as session:
        audit.record(session, [Event(AuditEvent.LOGIN_FAILED), Event(AuditEvent.LOGOUT)])
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 0


# -- the server, not the writer, assigns ids and times --------------------------------------


def test_backdated_event_timestamp_is_replaced_by_server_time(store: Store) -> None:
    before = store.scalar("SELECT clock_timestamp()")
    with store.app.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (event_type, event_timestamp, success) "
                "VALUES ('login_success', '2001-01-01T00:00:00Z', true)"
            )
        )
    after = store.scalar("SELECT clock_timestamp()")
    stamped = store.scalar("SELECT event_timestamp FROM auth.audit_logs")
    assert before <= stamped <= after


def test_pre_inserted_audit_ids_are_ignored(store: Store) -> None:
    _write(store, 1)
    taken = int(store.scalar("SELECT max(audit_id) FROM auth.audit_logs"))
    planted = list(range(taken + 2, taken + 7))  # the ids the next writers would draw
    with store.app.begin() as conn:
        for audit_id in planted:
            conn.execute(
                text("INSERT INTO auth.audit_logs (audit_id, event_type) VALUES (:a, 'x')"),
                {"a": audit_id},
            )
    _write(store, 5)  # would collide with the planted ids if writers chose them
    ids = store.scalar("SELECT array_agg(audit_id ORDER BY chain_seq) FROM auth.audit_logs")
    assert len(set(ids)) == 11
    assert ids[1:6] == list(range(taken + 1, taken + 6))  # the server's values, not planted


def _delete_with_purge_flag(engine: Engine, switch: str) -> str | None:
    try:
        with engine.begin() as conn:
            if switch:
                conn.execute(text(switch))
            conn.execute(text("SELECT set_config('medz1.audit_purge', 'on', true)"))
            conn.execute(text("DELETE FROM auth.audit_logs WHERE chain_seq = 1"))
    except DBAPIError as exc:
        return sqlstate(exc)
    return None


def test_purge_flag_in_an_ordinary_session_deletes_nothing(
    store: Store, owner: Engine, db_target: Target
) -> None:
    seed_history(store, [datetime.now(UTC) - timedelta(days=3000)] * 2)
    with store.admin.begin() as conn:  # a role that holds DELETE but is not the owner
        conn.execute(text("DROP ROLE IF EXISTS medz1_test_deleter"))
        conn.execute(text("CREATE ROLE medz1_test_deleter"))
        conn.execute(text("GRANT USAGE ON SCHEMA auth TO medz1_test_deleter"))
        conn.execute(text("GRANT SELECT, DELETE ON auth.audit_logs TO medz1_test_deleter"))
    try:
        assert _delete_with_purge_flag(owner, "") == "42501"
        assert _delete_with_purge_flag(store.admin, "SET LOCAL ROLE medz1_test_deleter") == "42501"
    finally:
        with store.admin.begin() as conn:
            conn.execute(text("REVOKE ALL ON auth.audit_logs FROM medz1_test_deleter"))
            conn.execute(text("REVOKE ALL ON SCHEMA auth FROM medz1_test_deleter"))
            conn.execute(text("DROP ROLE medz1_test_deleter"))
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 2


# -- many tampers ---------------------------------------------------------------------------


def _forge_line(log: CheckpointLog, rng: random.Random) -> None:
    lines = log.path.read_text().splitlines()
    index = rng.randrange(len(lines))
    fields = json.loads(lines[index])
    field = rng.choice(["seq", "hash", "at", "db", "mac"])
    fields[field] = {
        "seq": fields["seq"] + rng.randint(1, 5),
        "hash": os.urandom(32).hex(),
        "at": "2001-01-01T00:00:00+00:00",
        "db": fields["db"] + "x",
        "mac": os.urandom(32).hex(),
    }[field]
    lines[index] = json.dumps(fields)
    log.path.write_text("\n".join(lines) + "\n")


def test_1000_random_tampers_beyond_the_chain_are_all_detected(
    store: Store, log: CheckpointLog
) -> None:
    for _ in range(10):
        _write(store, 2)
    original = log.path.read_bytes()
    rng = random.Random(2026)
    found: dict[str, int] = {}
    session = Session(store.admin)  # a superuser, triggers off per transaction
    for _ in range(1000):
        kind = rng.choice(["rewind", "rewrite", "forged_checkpoint"])
        if kind == "rewind":
            rewind(session, keep=rng.randrange(0, 20), superuser=True)
        elif kind == "rewrite":
            rewrite_from(
                session, rng.randrange(1, 21), email=f"t{rng.random()}@x.org", superuser=True
            )
        else:
            _forge_line(log, rng)
        result = audit.verify_chain(session, checkpoints=log)
        session.rollback()
        log.path.write_bytes(original)
        assert result.first_break is not None, kind
        assert result.first_break.kind == kind
        found[kind] = found.get(kind, 0) + 1
    session.close()
    report(f"S19: 1000/1000 rewinds, rewrites, forgeries detected: {sorted(found.items())}")
    assert sum(found.values()) == 1000


# -- the functions themselves ---------------------------------------------------------------

_AUDIT_FUNCTIONS = {"audit_chain_row", "refuse_audit_change", "purge_audit_logs"}
_BUILTINS = (
    "sha256|convert_to|octet_length|extract|now|clock_timestamp|nextval|txid_current|"
    "make_interval|jsonb_build_object|min|max|set_config|current_setting"
)


def test_audit_functions_pin_search_path_and_qualify_every_builtin(store: Store) -> None:
    with store.admin.connect() as conn:
        functions = conn.execute(
            text(
                "SELECT p.proname, p.prosecdef, p.proconfig, p.prosrc FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'auth' "
                "AND p.proname = ANY(:names)"
            ),
            {"names": list(_AUDIT_FUNCTIONS)},
        ).all()
    assert {name for name, *_ in functions} == _AUDIT_FUNCTIONS
    for name, definer, config, source in functions:
        assert definer, name
        assert config == ["search_path=pg_catalog, pg_temp"], name
        unqualified = re.findall(rf"(?<![\w.])({_BUILTINS})\s*\(", source, flags=re.IGNORECASE)
        assert unqualified == [], (name, unqualified)


def test_rows_of_a_rolled_back_savepoint_get_no_checkpoint(
    store: Store, log: CheckpointLog
) -> None:
    _write(store, 2)
    with unit_of_work(store.app) as session:
        nested = session.begin_nested()
        audit.record(session, [Event(AuditEvent.LOGOUT)])
        nested.rollback()
    assert [p.seq for p in log.scan(str(store.target.url.database)).current] == [2]
    assert _verify(store, log).ok


def _held_fsync(
    log: CheckpointLog, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False
) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make the first fsync of the checkpoint file wait until released; count fsyncs.

    Returns the events "the first fsync began" and "release it", and the fsyncs done.
    """
    log.append(database="other", seq=1, row_hash=bytes(32))  # the file and folder exist
    began, release = threading.Event(), threading.Event()
    done: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if not done:
            began.set()
            release.wait(timeout=30)
        done.append(fd)
        if fail and len(done) > 1:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return began, release, done


def _waiting(log: CheckpointLog, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(log._waiting) < count:  # the threads queued behind the write in progress
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_commits_that_wait_together_share_one_fsynced_checkpoint_line(
    log: CheckpointLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    began, release, fsyncs = _held_fsync(log, monkeypatch)
    row = bytes(range(32))
    returned: dict[int, int] = {}

    def commit(seq: int) -> None:
        log.cover(database="medz1", seq=seq, row_hash=row)
        returned[seq] = len(fsyncs)  # fsyncs done when this commit was told it is durable

    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(commit, 1)  # writes its line alone and waits in fsync
        assert began.wait(timeout=30)
        later = [pool.submit(commit, seq) for seq in (5, 3, 4, 2)]
        _waiting(log, 4)
        release.set()
        for future in [first, *later]:
            future.result()
    points = log.scan("medz1").current
    assert [p.seq for p in points] == [1, 5]  # one line for the four waiting commits
    assert len(fsyncs) == 2
    assert returned == {1: 1, 2: 2, 3: 2, 4: 2, 5: 2}  # none returned before its fsync


def test_a_failed_group_write_fails_every_commit_of_the_group(
    log: CheckpointLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    began, release, _ = _held_fsync(log, monkeypatch, fail=True)
    row = bytes(32)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(log.cover, database="medz1", seq=1, row_hash=row)
        assert began.wait(timeout=30)
        later = [pool.submit(log.cover, database="medz1", seq=seq, row_hash=row) for seq in (2, 3)]
        _waiting(log, 2)
        release.set()
        first.result()
        for future in later:
            with pytest.raises(ConfigurationError, match="cannot be written"):
                future.result()
    # The next commit writes again (nothing is left waiting or marked in progress).
    monkeypatch.undo()
    log.cover(database="medz1", seq=4, row_hash=row)
    assert [p.seq for p in log.scan("medz1").current][-1] == 4
