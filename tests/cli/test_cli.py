"""The command line: help, exit codes, clear one-line errors, JSON output."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke

SECRET = "sentinel-Pa55word-x9"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["server"],
        ["migrate"],
        ["schema"],
        ["docs"],
        ["up"],
        ["check"],
        ["psql"],
        ["down"],
        ["demo"],
        ["demo", "generate"],
        ["grants"],
        ["load"],
        ["patients"],
        ["users"],
        ["sessions"],
        ["audit"],
        ["backup"],
    ],
)
def test_every_command_has_help(cli: Invoke, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0
    assert "Usage" in result.out


def test_version(cli: Invoke) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.out.startswith("medz1 ")


def test_unknown_command_is_a_usage_error(cli: Invoke) -> None:
    assert cli("frobnicate").code == 2


def test_bad_setting_is_one_line_naming_the_variable(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"mysql://u:{SECRET}@h/db")
    result = cli("check")
    assert result.code == 2
    assert result.err.startswith("error: invalid configuration: MEDZ1_DATABASE_URL")
    assert len(result.err.strip().splitlines()) == 1
    assert SECRET not in result.err + result.out


def test_unreachable_server_is_one_line_without_the_password(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"postgresql://u:{SECRET}@127.0.0.1:1/db")
    result = cli("migrate", "current")
    assert result.code == 3
    assert result.err.startswith("error: cannot connect")
    assert "hint:" in result.err
    assert SECRET not in result.err + result.out


def test_traceback_option_shows_the_stack(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    result = cli("--traceback", "migrate", "current")
    assert "Traceback" in result.err


def test_server_commands_refuse_with_external_url(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    result = cli("server", "status")
    assert result.code == 3
    assert "unset MEDZ1_DATABASE_URL" in result.err


def test_status_of_a_server_never_started_exits_3_as_pg_ctl_status_does(cli: Invoke) -> None:
    result = cli("server", "status", "--json")
    assert result.code == 3
    assert json.loads(result.out)["running"] is False


@pytest.mark.db
def test_check_exits_0_on_a_fresh_database(cli: Invoke, database_url_env: str) -> None:
    result = cli("check")
    assert result.code == 0, result.out
    assert "all checks passed" in result.out


@pytest.mark.db
def test_check_names_a_column_added_by_hand(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE auth.users ADD COLUMN favourite_colour text"))
    result = cli("check", "--json")
    assert result.code == 5
    report = json.loads(result.out)
    assert any(
        "auth.users.favourite_colour" in d for f in report["findings"] for d in f["differences"]
    )


@pytest.mark.db
def test_schema_list_json(cli: Invoke, database_url_env: str) -> None:
    result = cli("schema", "list", "--json")
    assert result.code == 0
    assert [s["name"] for s in json.loads(result.out)] == ["public", "auth", "ai", "admin"]


@pytest.mark.db
def test_schema_tables_of_unknown_schema_is_refused(cli: Invoke, database_url_env: str) -> None:
    result = cli("schema", "tables", "clinical")
    assert result.code == 6
    assert "public, auth, ai, admin" in result.err


@pytest.mark.db
def test_schema_describe_renders_a_table(cli: Invoke, database_url_env: str) -> None:
    result = cli("schema", "describe", "auth.sessions")
    assert result.code == 0
    assert "expires_at" in result.out
    assert "fk_sessions_user_id_users" in result.out


@pytest.mark.db
def test_schema_describe_of_missing_table_suggests(cli: Invoke, database_url_env: str) -> None:
    result = cli("schema", "describe", "patient_lab")
    assert result.code == 6
    assert "did you mean" in result.err
    assert "patient_labs" in result.err


@pytest.mark.db
def test_migrate_current_and_history(cli: Invoke, database_url_env: str) -> None:
    current = json.loads(cli("migrate", "current", "--json").out)
    assert current["up_to_date"] is True
    history = json.loads(cli("migrate", "history", "--json").out)
    assert history[-1]["revision"] == current["head"]


@pytest.mark.db
def test_downgrade_needs_yes(cli: Invoke, database_url_env: str) -> None:
    result = cli("migrate", "downgrade", "base")
    assert result.code == 2
    assert "--yes" in result.err


@pytest.mark.db
def test_up_against_external_url_is_idempotent(cli: Invoke, database_url_env: str) -> None:
    result = cli("up")
    assert result.code == 0
    assert "nothing to do" in result.out
