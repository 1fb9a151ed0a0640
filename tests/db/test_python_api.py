"""``docs/python-api.md``: its worked example runs as printed, and it matches the docstrings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medz1.auth import users
from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import ConfigurationError
from medz1.ops import python_api
from medz1.provision.connect import application_engine, engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.settings import Settings
from tests.plugins.auth import PASSWORD, cheap_hasher

pytestmark = pytest.mark.db

PAGE = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def example() -> str:
    found = re.search(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_printed_example_logs_in_validates_and_reads_a_chart(
    database_url_env: str,
    db_target: Target,
    role_plan: RolePlan,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cheap_hashing: None,
) -> None:
    write_parquet(generate(3, seed=2), tmp_path / "patients")
    loader = engine_for_role(db_target, "loader", role_plan.passwords)
    try:
        load(loader, prepare(tmp_path / "patients"))
    finally:
        loader.dispose()
    with unit_of_work(engine) as session:
        station = session.execute(
            text("SELECT primary_station FROM patient_demographics WHERE patient_key = :p"),
            {"p": "ICN100001"},
        ).scalar_one()
        users.create_user(
            session,
            # The clinician works at the patient's station: the example reads as it.
            user=users.NewUser(email="greg.house@va.example.org", home_site_sta3n=int(station)),
            password=PASSWORD,
            hasher=cheap_hasher(),
            now=datetime.now(UTC),
        )
    exec(compile(example(), str(PAGE), "exec"), {"password": PASSWORD})  # noqa: S102
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("greg.house@va.example.org ")
    assert printed != "greg.house@va.example.org no such patient"


def test_the_application_engine_connects_as_the_application_role(
    database_url_env: str,
) -> None:
    engine = application_engine(Settings())
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == "med_z1_user"
    finally:
        engine.dispose()


def test_without_the_application_password_the_engine_is_refused(
    database_url_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDZ1_APP_PASSWORD")
    with pytest.raises(ConfigurationError, match="MEDZ1_APP_PASSWORD"):
        application_engine(Settings())


def test_the_page_is_generated_from_the_current_docstrings() -> None:
    pytest.importorskip("griffe")
    assert PAGE.read_text(encoding="utf-8") == python_api.render(), (
        "docs/python-api.md is stale: run python -m medz1.ops.python_api"
    )
