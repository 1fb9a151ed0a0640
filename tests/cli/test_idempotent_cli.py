"""Commands run twice: the second run says ``nothing to do`` and writes no audit row."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke

EMAIL = "twice@va.example.org"


@pytest.fixture
def user_cli(
    cli: Invoke, database_url_env: str, cheap_hashing: None, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    """The command on the test's database, with one user."""
    monkeypatch.setattr("sys.stdin", io.StringIO("quiet harbor lamp at dawn\n"))
    assert cli("users", "add", EMAIL, "--station", "508", "--password-stdin").code == 0
    return cli


def _audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM auth.audit_logs")).scalar_one())


@pytest.mark.parametrize(
    "commands", [("disable",), ("disable", "enable"), ("unlock",)], ids=lambda c: "-".join(c)
)
def test_a_user_switch_run_twice_changes_nothing_the_second_time(
    user_cli: Invoke, engine: Engine, commands: tuple[str, ...]
) -> None:
    for command in commands:
        user_cli("users", command, EMAIL)
    rows = _audit_rows(engine)
    again = user_cli("users", commands[-1], EMAIL)
    assert again.code == 0
    assert again.out.startswith("nothing to do: ")
    assert _audit_rows(engine) == rows
    assert json.loads(user_cli("users", commands[-1], EMAIL, "--json").out)["changed"] is False


def test_audit_checkpoint_run_twice_signs_nothing_the_second_time(user_cli: Invoke) -> None:
    first = user_cli("audit", "checkpoint")
    assert first.code == 0, first.err
    again = user_cli("audit", "checkpoint")
    assert again.code == 0
    assert again.out.startswith("nothing to do: ")
