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

pytestmark = [pytest.mark.db, pytest.mark.embedded_only("tests the bundled server itself")]


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


#: What the server writes to its own log: never a statement, a parameter, a DETAIL line.
_QUIET_LOG = {
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
    "log_min_messages": "log",
    "log_statement": "none",
    "log_min_duration_statement": "-1",
    "log_min_duration_sample": "-1",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
    "debug_print_plan": "off",
    "session_preload_libraries": "",
}


def _settings(server: EmbeddedServer) -> dict[str, str]:
    engine = make_engine(server.url("postgres"))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, setting FROM pg_settings WHERE name = ANY(:names)"),
            {"names": list(_QUIET_LOG)},
        )
        found = {str(name): str(setting) for name, setting in rows}
    engine.dispose()
    return found


def test_server_log_settings_keep_rows_and_statements_out(pg_server: EmbeddedServer) -> None:
    assert _settings(pg_server) == _QUIET_LOG


@pytest.mark.slow
def test_a_cluster_made_before_gets_the_log_settings_on_next_start(server_folder: Path) -> None:
    server = EmbeddedServer(server_folder / "old")
    server.start()
    server.stop()
    # As an older medz1 left it: its own medz1.conf, and no include line.
    (server.pgdata / "medz1.conf").write_text("fsync = on\n")
    conf = server.pgdata / "postgresql.conf"
    conf.write_text(conf.read_text().replace("include_if_exists = 'medz1.conf'", ""))
    server.start()
    try:
        assert _settings(server) == _QUIET_LOG
    finally:
        server.stop()


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


#: Folder names the file system allows and a shell or a conninfo would misread.
_AWKWARD_FOLDERS = [
    pytest.param("Library/Application Support/medz1", id="space"),
    pytest.param("quote\"double'single", id="quotes", marks=pytest.mark.slow),
    pytest.param("-leading-dash", id="leading-dash", marks=pytest.mark.slow),
    pytest.param("dollar$HOME`id`\\back", id="shell-characters"),
    pytest.param("dossiers-médicaux-病歷", id="non-ascii", marks=pytest.mark.slow),
    pytest.param("comma,semicolon;", id="comma", marks=pytest.mark.slow),
    # Fewer than 107 characters but more than 107 bytes with the socket's name: the kernel
    # counts bytes.
    pytest.param("ö" * 55, id="non-ascii-too-long-for-a-socket"),
    pytest.param("l" * 200, id="too-long-for-a-socket", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("folder", _AWKWARD_FOLDERS)
def test_server_starts_and_answers_in_any_folder(server_folder: Path, folder: str) -> None:
    server = EmbeddedServer(server_folder / folder)
    server.start()
    try:
        engine = make_engine(server.url("postgres"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_setting('data_directory')")).scalar() == str(
                server.pgdata
            )
        engine.dispose()
    finally:
        server.stop()
    assert not server.status().running


@pytest.mark.slow
def test_server_starts_in_a_folder_given_relative(
    server_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(server_folder)
    server = EmbeddedServer(Path("relative data"))
    server.start()
    try:
        assert server.status().socket_dir == server_folder / "relative data" / "pgdata"
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root could take over another user's cluster")
def test_root_refuses_a_cluster_of_another_os_user_and_changes_nothing(
    server_folder: Path,
) -> None:
    # A cluster folder as another OS user leaves it (``nobody`` stands for that user).
    nobody = 65534
    data = server_folder / "theirs"
    pgdata = data / "pgdata"
    pgdata.mkdir(parents=True, mode=0o700)
    (pgdata / "PG_VERSION").write_text("18\n")
    for path in (data, pgdata, pgdata / "PG_VERSION"):
        os.chown(path, nobody, nobody)
    data.chmod(0o700)
    before = [(p.stat().st_uid, p.stat().st_mode) for p in (data, pgdata, server_folder)]
    server = EmbeddedServer(data)
    with pytest.raises(ServerError) as caught:
        server.start()
    assert "belongs to the OS user nobody" in str(caught.value)
    assert "sudo -u nobody" in (caught.value.hint or "")
    assert [(p.stat().st_uid, p.stat().st_mode) for p in (data, pgdata, server_folder)] == before
    assert sorted(os.listdir(pgdata)) == ["PG_VERSION"]
