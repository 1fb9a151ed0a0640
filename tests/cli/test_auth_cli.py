"""``medz1 users | sessions | audit``: run in-process, as the application and auditor roles."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke, Result

pytestmark = pytest.mark.db

PASSWORD = "quiet harbor lamp at dawn"


@pytest.fixture
def auth_cli(cli: Invoke, database_url_env: str, cheap_hashing: None) -> Invoke:
    """The ``medz1`` command users run, on the test's database, with cheap password hashes."""
    return cli


def _with_stdin(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(value))


def _add(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, email: str = "house@va.example.org"
) -> Result:
    _with_stdin(monkeypatch, PASSWORD + "\n")
    return cli(
        "users",
        "add",
        email,
        "--first",
        "Gregory",
        "--station",
        "508",
        "--password-stdin",
        "--json",
    )


@pytest.mark.parametrize(
    "command",
    [
        ["users"],
        *(
            ["users", c]
            for c in (
                "add",
                "list",
                "show",
                "disable",
                "enable",
                "unlock",
                "set-password",
                "delete",
                "disable-dormant",
            )
        ),
        ["sessions"],
        *(["sessions", c] for c in ("list", "revoke", "purge")),
        ["audit"],
        *(["audit", c] for c in ("tail", "verify", "export", "purge")),
    ],
)
def test_every_auth_command_has_help_with_an_example(auth_cli: Invoke, command: list[str]) -> None:
    result = auth_cli(*command, "--help")
    assert result.code == 0
    assert "Usage" in result.out
    assert len(command) == 1 or "Example" in result.out


def test_users_add_reads_the_password_from_stdin_only(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    result = _add(auth_cli, monkeypatch)
    assert result.code == 0, result.err
    created = json.loads(result.out)
    assert created["email"] == "house@va.example.org"
    assert "password_hash" not in result.out
    assert PASSWORD not in result.out + result.err
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM auth.users")).scalar()
    assert str(stored).startswith("$argon2id$")


def test_users_add_has_no_password_argument(auth_cli: Invoke) -> None:
    result = auth_cli("users", "add", "x@va.example.org", "--password", PASSWORD)
    assert result.code == 2


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("short\n", "shorter than 15"),
        ("\n", "no password on stdin"),
        ("password1234567890\n", "common"),
    ],
)
def test_bad_password_is_one_line_and_creates_nothing(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine, stdin: str, message: str
) -> None:
    _with_stdin(monkeypatch, stdin)
    result = auth_cli("users", "add", "a@va.example.org", "--password-stdin")
    assert result.code != 0
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.users")).scalar() == 0


@pytest.mark.parametrize("email", ["not-an-email", "a\x00b@va.example.org", "x" * 300])
def test_malformed_email_is_one_line_exit_8(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, email: str
) -> None:
    _with_stdin(monkeypatch, PASSWORD + "\n")
    result = auth_cli("users", "add", email, "--password-stdin")
    assert result.code == 8
    assert result.err.startswith("error: the e-mail address")
    assert len(result.err.strip().splitlines()) == 1


def test_duplicate_user_is_refused(auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    result = _add(auth_cli, monkeypatch, "HOUSE@va.example.org")
    assert result.code == 8
    assert "already exists" in result.err


def test_list_show_disable_enable_unlock_delete(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    listed = json.loads(auth_cli("users", "list", "--json").out)
    assert [u["email"] for u in listed] == ["house@va.example.org"]
    assert "password_hash" not in json.dumps(listed)
    shown = json.loads(auth_cli("users", "show", "HOUSE@va.example.org", "--json").out)
    assert shown["home_site_sta3n"] == 508
    for command in ("disable", "enable", "unlock"):
        assert auth_cli("users", command, "house@va.example.org").code == 0
    assert auth_cli("users", "delete", "house@va.example.org").code == 2
    assert auth_cli("users", "delete", shown["user_id"], "--yes").code == 0
    assert json.loads(auth_cli("users", "list", "--json").out) == []


def test_unknown_user_is_not_found_exit_6(auth_cli: Invoke) -> None:
    result = auth_cli("users", "show", "nobody@va.example.org")
    assert result.code == 6
    assert result.err.startswith("error: no user has this e-mail address")


def test_set_password_and_sessions_commands(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    _with_stdin(monkeypatch, "another calm passphrase\n")
    assert auth_cli("users", "set-password", "house@va.example.org", "--password-stdin").code == 0
    assert json.loads(auth_cli("sessions", "list", "--json").out) == []
    assert auth_cli("sessions", "revoke", "not-a-uuid").code == 2
    assert auth_cli("sessions", "revoke", "3f0c8a52-1111-4c1e-9c5e-1a2b3c4d5e6f").code == 6
    assert auth_cli("sessions", "revoke", "--user", "house@va.example.org").code == 0
    assert json.loads(auth_cli("sessions", "purge", "--json").out) == {"timed_out": 0, "deleted": 0}
    assert json.loads(auth_cli("users", "disable-dormant", "--json").out) == []


def test_audit_tail_verify_and_export(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    assert auth_cli("users", "disable", "house@va.example.org").code == 0
    rows = json.loads(auth_cli("audit", "tail", "--json").out)
    assert [r["event_type"] for r in rows] == ["user_created", "user_disabled"]
    verified = auth_cli("audit", "verify")
    assert verified.code == 0
    assert "2 row(s)" in verified.out
    out_file = tmp_path / "audit.jsonl"
    assert auth_cli("audit", "export", "--out", str(out_file)).code == 0
    assert len(out_file.read_text().splitlines()) == 2
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    exported = auth_cli("audit", "export", "--since", "2000-01-01")
    assert [json.loads(line)["chain_seq"] for line in exported.out.splitlines()] == [1, 2]


def test_audit_verify_names_the_first_bad_row_and_exits_5(
    auth_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    assert _add(auth_cli, monkeypatch).code == 0
    assert auth_cli("users", "disable", "house@va.example.org").code == 0
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE auth.audit_logs SET email = 'x@y.org' WHERE chain_seq = 2"))
    result = auth_cli("audit", "verify")
    assert result.code == 5
    assert result.err.startswith("error: chain broken at chain_seq 2 (audit_id")


def test_audit_purge_needs_yes_and_six_years(auth_cli: Invoke) -> None:
    assert auth_cli("audit", "purge").code == 2
    assert auth_cli("audit", "purge", "--yes", "--days", "30").code == 8
    assert json.loads(auth_cli("audit", "purge", "--yes", "--json").out)["deleted"] == 0
