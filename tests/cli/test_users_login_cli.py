"""``medz1 users login EMAIL``: whether a login works, and why not, for an operator."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke
from tests.cli.test_auth_cli import PASSWORD, _add, _with_stdin, auth_cli

pytestmark = pytest.mark.db

__all__ = ["auth_cli"]
EMAIL = "house@va.example.org"


def _login(cli: Invoke, monkeypatch: pytest.MonkeyPatch, password: str, who: str = EMAIL) -> str:
    _with_stdin(monkeypatch, password + "\n")
    result = cli("users", "login", who)
    return f"{result.code}|{result.out}|{result.err}"


def test_a_working_login_is_reported_and_leaves_no_session(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    code, out, err = _login(auth_cli, monkeypatch, PASSWORD).split("|")
    assert (code, out.strip(), err) == ("0", f"login works: {EMAIL}", "")
    assert json.loads(auth_cli("sessions", "list", "--json").out) == []
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT event_type FROM auth.audit_logs ORDER BY chain_seq")
        ).scalars()
        assert [e for e in events if e in ("login_success", "logout")] == [
            "login_success",
            "logout",
        ]


def test_a_wrong_password_says_so_and_counts_toward_the_lockout(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    code, out, err = _login(auth_cli, monkeypatch, "not the password").split("|")
    assert code == "5"
    assert err.startswith(f"error: {EMAIL} cannot log in: wrong password (1 failed attempt(s)")
    assert "not the password" not in err + out
    for _ in range(4):
        last = _login(auth_cli, monkeypatch, "not the password")
    assert "the account is now locked until" in last
    # The right password no longer works while the lock holds, and the reason is the lock.
    assert "cannot log in: the account is locked until" in _login(auth_cli, monkeypatch, PASSWORD)


def test_a_disabled_account_is_named_as_the_reason(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    assert auth_cli("users", "disable", EMAIL, "--reason", "left the clinic").code == 0
    code, _, err = _login(auth_cli, monkeypatch, PASSWORD).split("|")
    assert code == "5"
    assert "cannot log in: the account is disabled (left the clinic)" in err


def test_an_unknown_user_is_not_found(auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _login(auth_cli, monkeypatch, PASSWORD, who="nobody@va.example.org").split("|")
    assert code == "6"
    assert err.startswith("error:")
