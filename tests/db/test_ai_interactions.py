"""Drug interactions: order- and case-independent pairs, all-or-nothing loads, a cache
that a reload invalidates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.ai.interactions import (
    cached_interactions,
    interactions_for,
    load_reference,
    prepare_reference,
)
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import DataError
from medz1.provision.credentials import RolePlan
from tests.db.ai_support import role_engine

pytestmark = pytest.mark.db

REFERENCE = (
    "drug_a,drug_b,severity,description\n"
    "Warfarin  Sodium,ASPIRIN,Major,bleeding\n"
    "aspirin,naproxen,moderate,ulcers\n"
    "Lorazepam,OXYCODONE HCL,major,respiratory depression\n"
)


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    with role_engine(db_target, role_plan, "app") as engine:
        yield engine


def _load(db_target: Target, role_plan: RolePlan, path: Path, body: str) -> None:
    path.write_text(body, encoding="utf-8")
    with role_engine(db_target, role_plan, "loader") as loader:
        load_reference(loader, prepare_reference(path))


@pytest.fixture
def reference(db_target: Target, role_plan: RolePlan, tmp_path: Path) -> Path:
    path = tmp_path / "interactions.csv"
    _load(db_target, role_plan, path, REFERENCE)
    return path


def _pairs(app: Engine, medications: list[str]) -> list[tuple[str, str]]:
    with unit_of_work(app) as session:
        return [(i.drug_a, i.drug_b) for i in interactions_for(session, medications)]


@pytest.mark.parametrize(
    "medications",
    [
        ["warfarin sodium", "aspirin", "metformin"],
        ["ASPIRIN", "Warfarin Sodium"],
        ["  aspirin ", "metformin", "WARFARIN\tSODIUM"],
    ],
)
def test_interactions_do_not_depend_on_order_or_case(
    app: Engine, reference: Path, medications: list[str]
) -> None:
    assert _pairs(app, medications) == [("aspirin", "warfarin sodium")]


def test_every_interacting_pair_of_a_list_is_found(app: Engine, reference: Path) -> None:
    found = _pairs(app, ["naproxen", "oxycodone hcl", "aspirin", "lorazepam", "warfarin sodium"])
    assert found == [
        ("aspirin", "naproxen"),
        ("aspirin", "warfarin sodium"),
        ("lorazepam", "oxycodone hcl"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        "drug_a,drug_b\nAspirin,Warfarin\nwarfarin,ASPIRIN\n",  # the same pair twice
        "drug_a,drug_b\naspirin,Aspirin\n",  # a drug with itself
        "drug_a,drug_b\naspirin,\n",  # an empty name
        "drug_a,drug_b,severity\naspirin,warfarin,deadly\n",  # an unknown severity
        "drug_a\naspirin\n",  # no second drug
    ],
)
def test_a_refused_reference_file_changes_nothing(
    db_target: Target, role_plan: RolePlan, app: Engine, reference: Path, tmp_path: Path, body: str
) -> None:
    with pytest.raises(DataError):
        _load(db_target, role_plan, tmp_path / "bad.csv", body)
    assert _pairs(app, ["aspirin", "warfarin sodium"]) == [("aspirin", "warfarin sodium")]
    with app.connect() as conn:
        loads = conn.execute(text("SELECT count(*) FROM ai.drug_interaction_loads")).scalar_one()
    assert loads == 1


def test_a_reload_invalidates_cached_results(
    db_target: Target, role_plan: RolePlan, app: Engine, reference: Path
) -> None:
    medications = ["aspirin", "naproxen"]
    with unit_of_work(app) as session:
        assert cached_interactions(session, medications)[1] is False
    with unit_of_work(app) as session:
        found, cached = cached_interactions(session, medications)
    assert cached is True
    assert [i.severity for i in found] == ["moderate"]
    _load(db_target, role_plan, reference, "drug_a,drug_b,severity\nnaproxen,aspirin,major\n")
    with unit_of_work(app) as session:
        found, cached = cached_interactions(session, medications)
    assert cached is False
    assert [i.severity for i in found] == ["major"]


def _sqlstate(engine: Engine, statement: str) -> str | None:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DBAPIError as exc:
        return getattr(exc.orig, "sqlstate", None)
    return None


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("app", "DELETE FROM ai.drug_interactions"),
        ("app", "INSERT INTO ai.drug_interaction_loads (pairs) VALUES (1)"),
        ("loader", "SELECT count(*) FROM ai.chart_summaries"),
        ("app", "DELETE FROM ai.patient_embeddings"),  # the embedding job is the loader's
        ("app", "SELECT ai.embedding_station_index('508')"),
        ("loader", "DELETE FROM ai.ddi_cache"),
        ("reporting", "SELECT count(*) FROM ai.drug_interactions"),
        ("reporting", "SELECT count(*) FROM ai.patient_embeddings"),
        ("auditor", "SELECT count(*) FROM ai.chart_summaries"),
    ],
)
def test_roles_get_only_the_ai_privileges_they_need(
    db_target: Target, role_plan: RolePlan, role: str, statement: str
) -> None:
    with role_engine(db_target, role_plan, role) as engine:
        assert _sqlstate(engine, statement) == "42501"


def test_the_lookup_is_prepared_on_its_first_run_so_it_is_not_planned_again(
    app: Engine, reference: Path
) -> None:
    with unit_of_work(app) as session:
        assert interactions_for(session, ["aspirin", "warfarin sodium"])
        prepared = session.execute(
            text(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM ai.drug_interactions%' AND NOT from_sql"
            )
        ).scalar_one()
    assert prepared == 1
