"""``medz1 serve``: runs uvicorn with the app factory, without its query-string access log."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medz1.cli import serve as serve_module
from tests.cli.conftest import Invoke

pytestmark = [pytest.mark.db, pytest.mark.api]


def test_serve_runs_uvicorn_with_the_factory_and_no_uvicorn_access_log(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append({"app": app, **kw}))
    result = cli("serve", "--host", "127.0.0.1", "--port", "8123", "--workers", "2")
    assert result.code == 0, result.err
    (call,) = calls
    assert call["app"] == "medz1.cli.serve:_factory"
    assert call["factory"] is True
    assert call["access_log"] is False
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.1", 8123, 2)


def test_the_factory_builds_an_app_that_is_ready(database_url_env: str) -> None:
    app = serve_module._factory()
    assert isinstance(app, FastAPI)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        ["--workers", "0"],
        ["--port", "x"],
        ["--host", "x\x00y"],  # found by the CLI fuzz run: exit 1 before
        ["--host", "\u202e"],
        ["--host", ""],  # uvicorn would listen on every interface
        ["--host", " "],
    ],
)
def test_serve_refuses_bad_options_with_exit_2(
    cli: Invoke, args: list[str], tmp_path: Path
) -> None:
    assert cli("serve", *args).code == 2
    # Refused before anything started: no bundled server was created (and left running).
    assert not (tmp_path / "data" / "pgdata").exists()


def test_serve_with_an_unreachable_database_exits_3_before_starting(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: calls.append(a))
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "postgresql://medz1:secret@127.0.0.1:1/medz1")
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", "a-password-long-enough-0123")
    result = cli("serve", "--port", "8124")
    assert result.code == 3
    assert calls == []
    assert "Traceback" not in result.err


def test_serve_on_a_busy_port_exits_3_before_starting(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: calls.append(a))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.code == 3
    assert "cannot listen" in result.err
    assert calls == []


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True)],  # noqa: S104
)
def test_serve_warns_when_the_viewer_is_reachable_from_the_network(
    cli: Invoke,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    warned: bool,
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: None)
    result = cli("serve", "--host", host, "--port", "8125")
    assert result.code == 0, result.err
    assert ("reachable from the network" in result.err) is warned


@pytest.mark.parametrize("host", ["", " "])
def test_serve_refuses_an_empty_host_that_would_listen_everywhere(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    calls: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: calls.append(a))
    result = cli("serve", "--host", host, "--port", "8126")
    assert result.code == 2
    assert "--host is empty" in result.err
    assert calls == []
