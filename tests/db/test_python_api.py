"""``docs/python-api.md``: its worked example runs as printed, and it matches the docstrings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from medz1.auth.demo import create_demo_users
from medz1.clinical.load import load
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import ConfigurationError
from medz1.ops import python_api
from medz1.ops.demo import demo_files
from medz1.provision.connect import application_engine, engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.settings import Settings
from tests.plugins.auth import cheap_hasher

pytestmark = pytest.mark.db

PAGE = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"
README = PAGE.parents[1] / "README.md"


def example() -> str:
    found = re.search(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert found is not None
    return found.group(1)


def readme_example() -> str:
    text_ = README.read_text(encoding="utf-8")
    section = text_[text_.index("## Use from Python") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


@pytest.fixture
def demo_database(db_target: Target, role_plan: RolePlan, engine: Engine) -> dict[str, str]:
    """The database as `medz1 up --demo` leaves it; the demo clinicians' passwords."""
    loader = engine_for_role(db_target, "loader", role_plan.passwords)
    try:
        load(loader, demo_files())
    finally:
        loader.dispose()
    with unit_of_work(engine) as session:
        made = create_demo_users(session, hasher=cheap_hasher(), now=datetime.now(UTC))
    return {user.email: user.password for user in made}


def test_the_printed_example_logs_in_validates_and_reads_a_chart(
    database_url_env: str,
    demo_database: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    cheap_hashing: None,
) -> None:
    (email,) = re.findall(r'email="([^"]+)"', example())
    globals_ = {"password": demo_database[email]}
    exec(compile(example(), str(PAGE), "exec"), globals_)  # noqa: S102
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(f"{email} ")
    assert printed != f"{email} no such patient"


def test_the_readme_example_runs_as_printed_and_reads_a_chart(
    database_url_env: str,
    demo_database: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cheap_hashing: None,
) -> None:
    (email,) = re.findall(r'email="([^"]+)"', readme_example())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": demo_database[email])
    exec(compile(readme_example(), str(README), "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out.strip()
    assert printed
    assert printed != "no such patient at this station"


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
