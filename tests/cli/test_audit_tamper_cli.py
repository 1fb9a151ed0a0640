"""``medz1 audit verify`` against an owner who rewrites the audit trail (S19): every medz1
command that writes audit events leaves a signed checkpoint outside the database, and
verify exits 5 naming the rewind, rewrite, forged line or deleted log.
"""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medz1.auth import checkpoints
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.cli.conftest import Invoke
from tests.plugins.audit import rewind, rewrite_from

pytestmark = pytest.mark.db

PASSWORD = "quiet harbor lamp at dawn"


@pytest.fixture
def medz1(cli: Invoke, database_url_env: str, cheap_hashing: None) -> Invoke:
    """The ``medz1`` command users run, on the test's database, with cheap password hashes."""
    return cli


@pytest.fixture
def owner(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "owner", role_plan.passwords)
    yield engine
    engine.dispose()


@pytest.fixture
def store_app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "app", role_plan.passwords)
    yield engine
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """MEDZ1_DATA_DIR of the test (set by the autouse fixture in tests/conftest.py)."""
    return tmp_path / "data"


def _history(medz1: Invoke, monkeypatch: pytest.MonkeyPatch, users: int = 3) -> None:
    """Each user: created, disabled, enabled: three commands, three audit rows."""
    for n in range(users):
        email = f"user{n}@va.example.org"
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert medz1("users", "add", email, "--password-stdin").code == 0
        assert medz1("users", "disable", email).code == 0
        assert medz1("users", "enable", email).code == 0


def test_audit_writing_commands_leave_signed_checkpoints(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    log = data_dir / checkpoints.CHECKPOINTS_FILE
    assert len(log.read_text().splitlines()) == 3
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / checkpoints.KEY_FILE).stat().st_mode) == 0o600
    verified = json.loads(medz1("audit", "verify", "--json").out)
    assert verified["ok"]
    assert (verified["checkpoints_checked"], verified["checkpoint_seq"]) == (3, 3)


def test_owner_rewind_makes_verify_exit_5_naming_it(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, owner: Engine
) -> None:
    _history(medz1, monkeypatch)
    with unit_of_work(owner) as session:
        rewind(session, keep=5)
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "(rewind) at chain_seq 6" in result.err


def test_owner_rewrite_makes_verify_exit_5_naming_it(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, owner: Engine
) -> None:
    _history(medz1, monkeypatch)
    with unit_of_work(owner) as session:
        rewrite_from(session, 2)
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "(rewrite) at chain_seq 2" in result.err


def test_forged_checkpoint_makes_verify_exit_5(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    log = data_dir / checkpoints.CHECKPOINTS_FILE
    fields = json.loads(log.read_text().splitlines()[-1])
    fields["seq"] += 10  # claims rows that never were, signature copied
    with log.open("a") as handle:
        handle.write(json.dumps(fields) + "\n")
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "(forged_checkpoint)" in result.err
    assert "line 4" in result.err


def test_deleted_checkpoint_log_makes_verify_exit_5(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    (data_dir / checkpoints.CHECKPOINTS_FILE).unlink()
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "(checkpoints_missing)" in result.err


def test_deleted_key_makes_verify_exit_5(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    (data_dir / checkpoints.KEY_FILE).unlink()
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "key" in result.err


def test_configured_key_signs_and_no_key_file_is_written(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("MEDZ1_AUDIT_KEY", "k" * 40)
    _history(medz1, monkeypatch, users=1)
    assert not (data_dir / checkpoints.KEY_FILE).exists()
    assert medz1("audit", "verify").code == 0
    monkeypatch.setenv("MEDZ1_AUDIT_KEY", "j" * 40)  # another key: every line is forged
    refused = medz1("audit", "verify").err
    assert "(forged_checkpoint)" in refused
    assert "the key is not the one that signed it" in refused  # the likelier cause is named


def test_short_configured_key_is_refused(medz1: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_AUDIT_KEY", "short")
    result = medz1("audit", "verify")
    assert result.code == 2
    assert "MEDZ1_AUDIT_KEY" in result.err
    assert "short" not in result.err.replace("MEDZ1_AUDIT_KEY", "")


def test_checkpoint_command_pins_rows_written_by_other_writers(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, owner: Engine, store_app: Engine
) -> None:
    _history(medz1, monkeypatch, users=1)
    with store_app.begin() as conn:  # med-z1's own INSERT: no checkpoint of its own
        conn.execute(
            text("INSERT INTO auth.audit_logs (event_type, success) VALUES ('login', true)")
        )
    signed = json.loads(medz1("audit", "checkpoint", "--json").out)
    assert signed == {"checkpoint_seq": 4}
    with unit_of_work(owner) as session:
        rewrite_from(session, 4)
    result = medz1("audit", "verify")
    assert result.code == 5
    assert "(rewrite) at chain_seq 4" in result.err


def test_checkpoint_command_refuses_to_sign_a_tampered_trail(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, owner: Engine, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    with unit_of_work(owner) as session:
        rewind(session, keep=1)
    lines = len((data_dir / checkpoints.CHECKPOINTS_FILE).read_text().splitlines())
    assert medz1("audit", "checkpoint").code == 5
    assert len((data_dir / checkpoints.CHECKPOINTS_FILE).read_text().splitlines()) == lines


def test_new_epoch_accepts_an_investigated_trail_and_keeps_the_evidence(
    medz1: Invoke, monkeypatch: pytest.MonkeyPatch, owner: Engine, data_dir: Path
) -> None:
    _history(medz1, monkeypatch, users=1)
    with unit_of_work(owner) as session:
        rewind(session, keep=1)
    assert medz1("audit", "verify").code == 5
    assert medz1("audit", "checkpoint", "--new-epoch").code == 0
    assert medz1("audit", "verify").code == 0
    lines = [
        json.loads(x) for x in (data_dir / checkpoints.CHECKPOINTS_FILE).read_text().splitlines()
    ]
    assert [(x["kind"], x.get("reason")) for x in lines][-1] == ("epoch", "acknowledged")
    assert len(lines) == 4  # the three checkpoints of the rewound rows are kept
