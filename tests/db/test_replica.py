"""Reporting standbys of the bundled server: made, streaming, read-only, promoted, removed.

Each test module run makes its own primary (a bundled server with the medz1 database) and
standbys of it with ``pg_basebackup``: seconds of work, so the module is marked slow.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from medz1.cli.common import CliContext
from medz1.cli.main import run
from medz1.db.engine import make_engine
from medz1.db.errors import translate
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.errors import DatabaseServerError, ServerError
from medz1.ops import replica
from medz1.ops.up import up
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import REPLICATOR, REPORTING

pytestmark = [pytest.mark.db, pytest.mark.slow]

DATABASE = "medz1"
#: Longest wait for a committed row to reach the standby (a bound, not a measurement).
REPLAY_DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    # Outside pytest's basetemp (0700), which the server's OS user could not traverse.
    path = Path(tempfile.mkdtemp(prefix="medz1-replica-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def primary(folder: Path, role_plan: RolePlan) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(folder / "primary")
    server.start()
    try:
        up(Target(url=server.url(DATABASE, user=SUPERUSER), embedded=True), role_plan, audit=False)
        yield server
    finally:
        for standby in replica.registered(server):
            standby.server().stop()
        server.stop()


@pytest.fixture(scope="module")
def standby(primary: EmbeddedServer, folder: Path) -> replica.Standby:
    return replica.create(primary, folder / "standby")


def _engine(server: EmbeddedServer, user: str = SUPERUSER, password: str | None = None) -> Engine:
    return make_engine(
        server.url(DATABASE, user=user, password=password),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )


def _insert_patient(engine: Engine, key: str) -> None:
    with engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO patient_demographics (patient_key, icn, name_last, name_first) "
                "VALUES (:k, :k, 'Standby', 'Test')"
            ),
            {"k": key},
        )


def _count(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM patient_demographics WHERE patient_key = :k"),
                {"k": key},
            ).scalar_one()
        )


def test_standby_is_made_and_streams(primary: EmbeddedServer, standby: replica.Standby) -> None:
    found = replica.status(primary, standby)
    assert found.running
    assert found.state == "streaming"
    assert found.in_recovery is True
    assert found.replay_lag_bytes is not None
    assert found.replay_lag_bytes >= 0
    assert found.replay_lag_seconds is not None
    assert found.replay_lag_seconds >= 0
    assert replica.registered(primary) == [standby]
    assert replica.find(primary, standby.data_dir) == standby
    with _engine(primary).connect() as conn:
        slot = conn.execute(
            text("SELECT active FROM pg_replication_slots WHERE slot_name = :s"),
            {"s": standby.slot},
        ).scalar_one()
        attributes = conn.execute(
            text(
                "SELECT rolreplication, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": REPLICATOR},
        ).one()
        may_connect = conn.execute(
            text("SELECT has_database_privilege(:r, :d, 'CONNECT')"),
            {"r": REPLICATOR, "d": DATABASE},
        ).scalar_one()
    assert slot is True
    assert tuple(attributes) == (True, False, False, False, False)
    assert may_connect is False


def test_row_written_on_the_primary_reaches_the_standby(
    primary: EmbeddedServer, standby: replica.Standby
) -> None:
    key = "REPLICA-ROW-1"
    _insert_patient(_engine(primary), key)
    reader = _engine(standby.server())
    deadline = time.monotonic() + REPLAY_DEADLINE_SECONDS
    while _count(reader, key) == 0:
        assert time.monotonic() < deadline, "the row did not reach the standby in time"
        time.sleep(0.05)
    assert _count(reader, key) == 1


def test_write_on_the_standby_is_refused(standby: replica.Standby) -> None:
    engine = _engine(standby.server())
    with pytest.raises(DBAPIError) as refused:
        _insert_patient(engine, "REPLICA-WRITE")
    mapped = translate(refused.value)
    assert isinstance(mapped, DatabaseServerError)
    assert "read-only standby" in mapped.message
    assert _count(engine, "REPLICA-WRITE") == 0


def test_reporting_reads_go_to_the_standby(
    primary: EmbeddedServer, standby: replica.Standby, role_plan: RolePlan
) -> None:
    where = replica.reporting_target(primary, standby.data_dir, DATABASE)
    password = role_plan.passwords[REPORTING].get_secret_value()
    engine = make_engine(where.url.set(username=REPORTING, password=password), poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
        assert conn.execute(text("SELECT count(*) FROM patient_demographics")).scalar_one() >= 0
    engine.dispose()
    default = replica.reporting_target(primary, None, DATABASE)
    assert default.url.query["host"] == str(primary.status().socket_dir)


def test_promoted_standby_takes_writes_and_its_slot_is_dropped(
    primary: EmbeddedServer, folder: Path
) -> None:
    second = replica.create(primary, folder / "promoted")
    promoted = replica.promote(primary, second)
    assert promoted.promoted
    assert replica.status(primary, promoted).state == "promoted"
    _insert_patient(_engine(promoted.server()), "WRITTEN-AFTER-PROMOTION")
    assert _count(_engine(promoted.server()), "WRITTEN-AFTER-PROMOTION") == 1
    with _engine(primary).connect() as conn:
        slots = conn.execute(
            text("SELECT count(*) FROM pg_replication_slots WHERE slot_name = :s"),
            {"s": second.slot},
        ).scalar_one()
    assert slots == 0
    replica.remove(primary, replica.find(primary, promoted.data_dir), force=True)
    assert not (folder / "promoted").exists()


def test_removed_standby_leaves_no_slot_and_no_files(primary: EmbeddedServer, folder: Path) -> None:
    third = replica.create(primary, folder / "removed")
    replica.remove(primary, third)
    assert not (folder / "removed").exists()
    assert third not in replica.registered(primary)
    with _engine(primary).connect() as conn:
        slots = conn.execute(
            text("SELECT count(*) FROM pg_replication_slots WHERE slot_name = :s"),
            {"s": third.slot},
        ).scalar_one()
    assert slots == 0


def test_status_and_reporting_target_through_the_settings(
    primary: EmbeddedServer,
    standby: replica.Standby,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary.data_dir))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run(["replica", "status", "--json"])
    assert exited.value.code in (0, None)
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["data_dir"] == str(standby.data_dir)
    assert shown["state"] == "streaming"
    assert isinstance(shown["replay_lag_bytes"], int)
    # Unset, reporting reads go to the primary; set, to the standby's socket.
    assert CliContext().reporting_target().url.query["host"] == str(primary.status().socket_dir)
    monkeypatch.setenv("MEDZ1_REPORTING_STANDBY", str(standby.data_dir))
    assert CliContext().reporting_target().url.query["host"] == str(
        standby.server().status().socket_dir
    )


def test_start_of_a_running_standby_prints_json_or_nothing_to_do(
    primary: EmbeddedServer,
    standby: replica.Standby,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary.data_dir))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run(["replica", "start", "--json"])
    assert exited.value.code in (0, None)
    assert json.loads(capsys.readouterr().out) == {
        "data_dir": str(standby.data_dir),
        "started": False,
    }
    with pytest.raises(SystemExit) as exited:
        run(["replica", "start"])
    assert exited.value.code in (0, None)
    assert capsys.readouterr().out.startswith("nothing to do: ")


def test_failed_create_leaves_no_slot_files_or_record(
    primary: EmbeddedServer, standby: replica.Standby, folder: Path
) -> None:
    before = replica.registered(primary)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # pg_basebackup copies the cluster, then the standby cannot listen on the port.
        with pytest.raises(ServerError, match=f"port {port} is already in use"):
            replica.create(primary, folder / "failed", port=port)
    assert not (folder / "failed").exists()
    assert replica.registered(primary) == before
    with _engine(primary).connect() as conn:
        slots = set(
            conn.execute(
                text("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'medz1%'")
            ).scalars()
        )
    assert slots == {s.slot for s in before}


def test_standby_whose_wal_the_primary_dropped_is_reported_lost(
    primary: EmbeddedServer, folder: Path
) -> None:
    fourth = replica.create(primary, folder / "lost")
    fourth.server().stop()
    admin = _engine(primary)
    try:
        with admin.connect() as conn:
            # An operator's cap on the WAL a slot may keep (the smallest the server takes).
            conn.execute(text("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'"))
            conn.execute(text("SELECT pg_reload_conf()"))
            deadline = time.monotonic() + REPLAY_DEADLINE_SECONDS
            while replica.status(primary, fourth).state != "lost":
                assert time.monotonic() < deadline, "the slot was never invalidated"
                conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS w (x text)"))
                conn.execute(
                    text("INSERT INTO w SELECT repeat('x', 1000) FROM generate_series(1, 2000)")
                )
                conn.execute(text("SELECT pg_switch_wal()"))
                conn.execute(text("CHECKPOINT"))
    finally:
        with admin.connect() as conn:
            conn.execute(text("ALTER SYSTEM RESET max_slot_wal_keep_size"))
            conn.execute(text("SELECT pg_reload_conf()"))
    assert replica.status(primary, fourth).replay_lag_bytes is None
    replica.remove(primary, fourth)
    assert not (folder / "lost").exists()
