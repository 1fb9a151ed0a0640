"""``medz1 check --citus-ready`` and the refusals of ``medz1 replica`` through the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke

pytestmark = pytest.mark.db


def test_citus_ready_prints_no_problem_on_a_fresh_database(
    cli: Invoke, database_url_env: str
) -> None:
    result = cli("check", "--citus-ready")
    assert result.code == 0, result.err
    assert "not ready" not in result.out
    assert "reference tables: admin.feature_flags" in result.out
    assert "ready to distribute by patient_key" in result.out


def test_citus_ready_names_a_key_without_patient_key_and_exits_5(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX ux_vital_sign ON patient_vitals (vital_sign_id)"))
    result = cli("check", "--citus-ready", "--json")
    assert result.code == 5
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["problems"] == [
        "unique index ux_vital_sign on public.patient_vitals does not include patient_key"
    ]


def test_replica_commands_refuse_a_server_given_by_url(
    cli: Invoke, database_url_env: str, tmp_path: Path
) -> None:
    for args in (
        ("replica", "create", "--data-dir", str(tmp_path / "standby")),
        ("replica", "status"),
        ("replica", "promote"),
        ("replica", "remove"),
    ):
        result = cli(*args)
        assert result.code == 2, args
        assert "MEDZ1_DATABASE_URL names a server medz1 did not create" in result.err
        assert "hint:" in result.err
    assert not (tmp_path / "standby").exists()


def _fake_cluster(data_dir: Path, *, by_medz1: bool) -> None:
    """A data directory's files as initdb (and medz1) leave them; no server runs there."""
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")
    header = "# Written by medz1." if by_medz1 else "# PostgreSQL Client Authentication"
    (pgdata / "pg_hba.conf").write_text(header + "\nlocal all all trust\n")
    if by_medz1:
        (pgdata / "medz1.conf").write_text("fsync = on\n")


def test_replica_create_refuses_a_cluster_medz1_did_not_create(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = tmp_path / "someone-elses"
    _fake_cluster(primary, by_medz1=False)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary))
    result = cli("replica", "create", "--data-dir", str(tmp_path / "standby"))
    assert result.code == 2
    assert "was not created by medz1" in result.err
    assert not (tmp_path / "standby").exists()


def test_replica_create_refuses_a_folder_that_is_not_empty(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = tmp_path / "primary"
    _fake_cluster(primary, by_medz1=True)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("keep me")
    result = cli("replica", "create", "--data-dir", str(occupied))
    assert result.code == 2
    assert "is not an empty folder" in result.err
    assert (occupied / "notes.txt").read_text() == "keep me"
    inside = cli("replica", "create", "--data-dir", str(primary / "standby"))
    assert inside.code == 2
    assert "inside the primary's data directory" in inside.err


@pytest.mark.parametrize("verb", ["status", "start", "promote", "remove"])
def test_replica_commands_refuse_a_folder_medz1_did_not_make_a_standby_in(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    primary = tmp_path / "primary"
    _fake_cluster(primary, by_medz1=True)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary))
    # A real cluster folder, but not a standby medz1 made of this server...
    other = tmp_path / "other"
    _fake_cluster(other, by_medz1=True)
    result = cli("replica", verb, "--data-dir", str(other))
    assert result.code == 2
    assert "holds no standby made by medz1" in result.err
    # ...nor one whose manifest names another primary.
    (other / "medz1-standby.json").write_text(
        json.dumps(
            {
                "data_dir": str(other),
                "primary_data_dir": str(tmp_path / "elsewhere"),
                "slot": "medz1_standby_00000000",
                "port": None,
                "tcp": False,
                "system_identifier": "1",
            }
        )
    )
    result = cli("replica", verb, "--data-dir", str(other))
    assert result.code == 2
    assert "is not a standby of the server in" in result.err
    assert (other / "pgdata" / "PG_VERSION").exists()


def test_replica_commands_without_a_standby_say_none_exists(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = tmp_path / "primary"
    _fake_cluster(primary, by_medz1=True)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(primary))
    assert "no standby" in cli("replica", "status").out
    result = cli("replica", "promote")
    assert result.code == 6
    assert "no standby of this server exists" in result.err
