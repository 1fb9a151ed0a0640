"""``medz1 check --citus-ready`` and the refusals of ``medz1 replica`` through the command."""

from __future__ import annotations

import json

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
