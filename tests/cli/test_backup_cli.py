"""``medz1 backup create | restore | verify | list``: help, output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.ops.backup import _manifest as bm
from tests.cli.conftest import Invoke
from tests.plugins.audit import rewind
from tests.plugins.database import PREFIX

pytestmark = pytest.mark.db


@pytest.fixture
def backup(cli: Invoke, database_url_env: str) -> Path:
    """A backup of the auth schema of the test database, made with the command."""
    result = cli("backup", "create", "--schema", "auth")
    assert result.code == 0, result.err
    return Path(result.out.split("backup written: ", 1)[1].splitlines()[0].strip())


@pytest.mark.parametrize(
    "command", ["create", "restore", "verify", "list", "list-restores", "drop-restore"]
)
def test_every_backup_command_has_help_with_an_example(cli: Invoke, command: str) -> None:
    result = cli("backup", command, "--help")
    assert result.code == 0
    assert "Example: medz1 backup" in result.out


def test_create_prints_where_and_a_summary(backup: Path, tmp_path: Path) -> None:
    assert backup.parent == tmp_path / "data" / "backups"
    assert (backup / bm.MANIFEST_NAME).is_file()


def test_list_json_shows_the_backup(cli: Invoke, backup: Path) -> None:
    result = cli("backup", "list", "--json")
    assert result.code == 0
    entries = json.loads(result.out)
    assert [(e["path"], e["schemas"]) for e in entries] == [(str(backup), ["auth"])]


def test_list_without_backups_says_so(cli: Invoke) -> None:
    result = cli("backup", "list")
    assert (result.code, result.out.strip()) == (
        0,
        "no backups yet (create one with `medz1 backup create`)",
    )


def test_verify_reports_zero_differences(cli: Invoke, backup: Path) -> None:
    result = cli("backup", "verify", str(backup))
    assert result.code == 0, result.err
    assert result.out.strip().startswith("0 differences")


def test_restore_into_a_new_database_prints_what_it_restored(
    cli: Invoke, backup: Path, empty_target: Target
) -> None:
    result = cli("backup", "restore", str(backup), "--into", empty_target.database)
    assert result.code == 0, result.err
    assert f"restored auth in database {empty_target.database}" in result.out
    assert "verified: 0 differences" in result.out


def test_restore_with_replace_replaces_the_current_database(cli: Invoke, backup: Path) -> None:
    result = cli("backup", "restore", str(backup), "--replace")
    assert result.code == 0, result.err
    assert result.out.startswith(f"replaced auth in database {PREFIX}")


def test_verify_of_a_tampered_manifest_exits_8_with_one_line(cli: Invoke, backup: Path) -> None:
    manifest = backup / bm.MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace('"auth"', '"ai"', 1))
    result = cli("backup", "verify", str(backup))
    assert result.code == 8
    assert result.err.count("\n") == 1
    assert "modified after the backup" in result.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["restore", "/nonexistent/backup"], 6, "error: no backup at /nonexistent/backup"),
        (["create", "--schema", "nope"], 2, "error: unknown schema nope"),
        (["restore", "{backup}", "--into", "Bad-Name"], 2, "is not a database name"),
    ],
)
def test_bad_arguments_give_one_line_errors(
    cli: Invoke, backup: Path, args: list[str], code: int, message: str
) -> None:
    result = cli("backup", *(a.format(backup=backup) for a in args))
    assert result.code == code
    assert message in result.err
    assert "Traceback" not in result.err


def test_restore_over_an_existing_database_without_replace_is_refused(
    cli: Invoke, backup: Path, database_url_env: str
) -> None:
    database = database_url_env.rsplit("/", 1)[1].split("?")[0]
    result = cli("backup", "restore", str(backup), "--into", database)
    assert result.code == 2
    assert "exists; a restore never writes over a database" in result.err


def test_verify_of_a_manifest_that_is_not_utf8_exits_8_with_one_line(
    cli: Invoke, backup: Path
) -> None:
    (backup / bm.MANIFEST_NAME).write_bytes(b"\xff\xfe\x00{")
    result = cli("backup", "verify", str(backup))
    assert (result.code, result.err.count("\n")) == (8, 1)
    assert "not UTF-8" in result.err


@pytest.mark.parametrize("command", [["list"], ["create", "--schema", "auth"]])
def test_a_backup_folder_that_is_a_file_exits_2_with_one_line(
    cli: Invoke, database_url_env: str, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "backups").write_text("not a folder")
    result = cli("backup", *command)
    assert (result.code, result.err.count("\n")) == (2, 1)
    assert "Traceback" not in result.err


def test_replace_that_would_drop_newer_audit_rows_exits_2_naming_the_count(
    cli: Invoke, backup: Path, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (event_type, success) "
                "SELECT 'login_failed', false FROM generate_series(1, 2)"
            )
        )
    refused = cli("backup", "restore", str(backup), "--replace")
    assert refused.code == 2
    assert "would remove 2 audit row(s)" in refused.err
    accepted = cli("backup", "restore", str(backup), "--replace", "--discard-newer-audit-rows", "2")
    assert accepted.code == 0, accepted.err


def test_list_restores_json_is_empty_without_leftovers(cli: Invoke, database_url_env: str) -> None:
    result = cli("backup", "list-restores", "--json")
    assert (result.code, json.loads(result.out)) == (0, [])


def test_drop_restore_of_an_ordinary_database_exits_6_and_drops_nothing(
    cli: Invoke, database_url_env: str
) -> None:
    database = database_url_env.rsplit("/", 1)[1].split("?")[0]
    result = cli("backup", "drop-restore", database)
    assert result.code == 6
    assert "not a database a medz1 restore left behind" in result.err
    assert cli("backup", "list", "--json").code == 0  # the database is still there


def test_audit_verifies_after_a_replace_that_discards_checkpointed_rows(
    cli: Invoke, backup: Path, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (event_type, success) "
                "SELECT 'login_failed', false FROM generate_series(1, 3)"
            )
        )
    assert cli("audit", "checkpoint").code == 0  # the three rows are now signed outside
    restored = cli("backup", "restore", str(backup), "--replace", "--discard-newer-audit-rows", "3")
    assert restored.code == 0, restored.err
    verified = cli("audit", "verify")
    assert verified.code == 0, verified.err + verified.out


def test_audit_verifies_in_a_database_restored_under_a_new_name(
    cli: Invoke,
    backup: Path,
    empty_target: Target,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli("audit", "checkpoint").code == 0
    restored = cli("backup", "restore", str(backup), "--into", empty_target.database)
    assert restored.code == 0, restored.err
    base, _, query = database_url_env.partition("?")
    new_url = base.rsplit("/", 1)[0] + "/" + empty_target.database + ("?" + query if query else "")
    monkeypatch.setenv("MEDZ1_DATABASE_URL", new_url)
    verified = cli("audit", "verify")
    assert verified.code == 0, verified.err + verified.out


def _rewound_trail(cli: Invoke, engine: Engine) -> None:
    """Three checkpointed audit rows, then the newest two deleted and the head moved back."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (event_type, success) "
                "SELECT 'login_failed', false FROM generate_series(1, 3)"
            )
        )
    assert cli("audit", "checkpoint").code == 0
    with unit_of_work(engine) as session:
        rewind(session, keep=1, superuser=True)
    assert cli("audit", "verify").code == 5


def test_restore_of_public_alone_leaves_a_rewound_trail_detected(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    made = cli("backup", "create", "--schema", "public")
    assert made.code == 0, made.err
    path = made.out.split("backup written: ", 1)[1].splitlines()[0].strip()
    _rewound_trail(cli, engine)
    restored = cli("backup", "restore", path, "--schema", "public", "--replace")
    assert restored.code == 0, restored.err
    assert cli("audit", "verify").code == 5  # no new epoch hides the rewind


def test_replace_of_auth_over_a_tampered_trail_is_refused(
    cli: Invoke, backup: Path, engine: Engine
) -> None:
    _rewound_trail(cli, engine)
    refused = cli("backup", "restore", str(backup), "--replace")
    assert refused.code == 5
    assert "the live audit trail does not verify" in refused.err
    assert cli("audit", "verify").code == 5  # nothing was replaced
