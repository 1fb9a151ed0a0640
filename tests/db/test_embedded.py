"""The bundled server: idempotent start, status, stop, crash recovery, durable settings."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from medz1.db.engine import make_engine
from medz1.embedded import EmbeddedServer
from medz1.errors import ServerError

pytestmark = pytest.mark.db


def test_status_reports_pid_socket_version_and_data_dir(pg_server: EmbeddedServer) -> None:
    status = pg_server.status()
    assert status.running
    assert status.pid is not None
    assert status.pid > 0
    assert status.socket_dir is not None
    assert status.socket_dir.exists()
    assert status.version == "18"
    assert status.data_dir == pg_server.data_dir


def test_second_start_reuses_the_running_server(pg_server: EmbeddedServer) -> None:
    before = pg_server.status().pid
    status, started = pg_server.start()
    assert not started
    assert status.pid == before


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("data_checksums", "on"),
        ("fsync", "on"),
        ("full_page_writes", "on"),
        ("synchronous_commit", "on"),
        ("password_encryption", "scram-sha-256"),
    ],
)
def test_cluster_is_durable_and_checksummed(
    pg_server: EmbeddedServer, setting: str, expected: str
) -> None:
    engine = make_engine(pg_server.url("postgres"))
    with engine.connect() as conn:
        assert conn.execute(text(f"SHOW {setting}")).scalar() == expected
    engine.dispose()


def test_server_is_not_run_as_root(pg_server: EmbeddedServer) -> None:
    pid = pg_server.status().pid
    assert pid is not None
    assert os.stat(f"/proc/{pid}").st_uid != 0


@pytest.mark.slow
def test_server_recovers_after_kill_9(server_folder: Path) -> None:
    server = EmbeddedServer(server_folder / "crash")
    status, _ = server.start()
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.status().running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (server.pgdata / "postmaster.pid").exists()  # the stale lock file stays behind
    restarted, started = server.start()
    try:
        assert started
        assert restarted.running
        assert restarted.pid != status.pid
    finally:
        server.stop()


@pytest.mark.slow
def test_stop_then_stop_again_says_not_running(server_folder: Path) -> None:
    server = EmbeddedServer(server_folder / "s")
    server.start()
    assert server.stop() is True
    assert server.stop() is False
    assert not server.status().running


def test_unwritable_data_dir_is_refused(server_folder: Path) -> None:
    blocker = server_folder / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ServerError, match="cannot be written"):
        EmbeddedServer(blocker / "data").start()


def test_data_dir_of_another_major_version_is_refused(server_folder: Path) -> None:
    server = EmbeddedServer(server_folder / "old")
    server.pgdata.mkdir(parents=True)
    (server.pgdata / "PG_VERSION").write_text("16\n")
    with pytest.raises(ServerError, match="made by PostgreSQL 16"):
        server.start()


@pytest.mark.slow
def test_port_in_use_is_reported(server_folder: Path, pg_server: EmbeddedServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = EmbeddedServer(server_folder / "p", port=port)
        with pytest.raises(ServerError, match=f"port {port} is already in use"):
            server.start()


def test_url_of_a_stopped_server_says_how_to_start(server_folder: Path) -> None:
    with pytest.raises(ServerError, match="medz1 server start"):
        EmbeddedServer(server_folder / "none").url("medz1")
