"""``medz1 ai embed | search | stale | interactions | load-interactions`` on demo patients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from medz1.ai.summaries import chart_digest, put_summary
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from tests.cli.conftest import Invoke
from tests.db.ai_support import as_station, load_patients, role_engine, stations

pytestmark = pytest.mark.db


@pytest.fixture
def keys(db_target: Target, role_plan: RolePlan, database_url_env: str) -> list[str]:
    return load_patients(db_target, role_plan, 5)


@pytest.fixture
def home(db_target: Target, role_plan: RolePlan, keys: list[str]) -> dict[str, str]:
    return stations(db_target, role_plan)


def test_search_after_embed_prints_only_the_patients_chunks(
    cli: Invoke, keys: list[str], home: dict[str, str]
) -> None:
    embedded = cli("ai", "embed")
    assert embedded.code == 0, embedded.err
    assert "embedded 5 patient(s)" in embedded.out  # station scoping on: every station
    result = cli(
        "ai", "search", "lab results", "--station", home[keys[1]], "--patient", keys[1].lower(),
        "--k", "3", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    hits = json.loads(result.out)
    assert len(hits) == 3
    assert {h["patient_key"] for h in hits} == {keys[1]}


def test_search_as_a_station_prints_only_that_stations_patients(
    cli: Invoke, keys: list[str], home: dict[str, str]
) -> None:
    assert cli("ai", "embed").code == 0
    for station in set(home.values()):
        result = cli("ai", "search", "lab results", "--station", station, "--k", "50", "--json")
        assert result.code == 0, result.err
        found = {h["patient_key"] for h in json.loads(result.out)}
        assert found == {k for k in keys if home[k] == station}
    nothing = cli("ai", "search", "lab results", "--json")  # no station: fail closed
    assert json.loads(nothing.out) == []


def test_embed_twice_embeds_nothing_the_second_time(cli: Invoke, keys: list[str]) -> None:
    assert cli("ai", "embed", "--patients", keys[0]).code == 0
    again = cli("ai", "embed", "--patients", keys[0])
    assert again.code == 0
    assert "embedded 0 patient(s)" in again.out


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("ai", "search", "x", "--k", "0"), 2),
        (("ai", "search", "...", "--k", "5"), 2),  # no word to compare
        (("ai", "search", "pain", "--patient", "ICN999999"), 6),
        (("ai", "search", "pain", "--station", "5O8"), 2),
        (("ai", "interactions", "ICN999999"), 6),
        (("ai", "embed", "--patients", "ICN999999"), 6),
    ],
)
def test_bad_arguments_exit_with_their_code(
    cli: Invoke, keys: list[str], args: tuple[str, ...], code: int
) -> None:
    result = cli(*args)
    assert result.code == code, result.err
    assert "rror: " in result.err


def test_stale_lists_a_summary_whose_chart_changed(
    cli: Invoke, keys: list[str], home: dict[str, str], db_target: Target, role_plan: RolePlan
) -> None:
    station = home[keys[0]]
    with role_engine(db_target, role_plan, "app") as app, as_station(app, station) as session:
        digest = chart_digest(session, patient_key=keys[0])
        put_summary(
            session,
            patient_key=keys[0],
            kind="chart",
            model="m",
            summary_text="fine",
            source_digest=digest,
        )
    assert "no stale summary" in cli("ai", "stale", "--station", station).out
    with role_engine(db_target, role_plan, "loader") as loader, loader.begin() as conn:
        conn.execute(
            text("UPDATE patient_vitals SET result_value = '1' WHERE patient_key = :k"),
            {"k": keys[0]},
        )
    stale = json.loads(cli("ai", "stale", "--station", station, "--json").out)
    assert [(s["patient_key"], s["reason"]) for s in stale] == [(keys[0], "chart changed")]
    other = next((s for s in set(home.values()) if s != station), "999")
    assert json.loads(cli("ai", "stale", "--station", other, "--json").out) == []


def test_interactions_of_a_patient_come_from_the_loaded_reference(
    cli: Invoke,
    keys: list[str],
    home: dict[str, str],
    db_target: Target,
    role_plan: RolePlan,
    tmp_path: Path,
) -> None:
    with role_engine(db_target, role_plan, "loader") as loader, loader.connect() as conn:
        patient, meds = conn.execute(
            text(
                "SELECT patient_icn, array_agg(DISTINCT lower(generic_name) ORDER BY "
                "lower(generic_name)) FROM patient_medications_outpatient WHERE is_active "
                "AND (expiration_date IS NULL OR expiration_date > now()) "
                "GROUP BY patient_icn HAVING count(DISTINCT generic_name) >= 2 "
                "ORDER BY patient_icn LIMIT 1"
            )
        ).one()
    reference = tmp_path / "ddi.csv"
    reference.write_text(f"drug_a,drug_b,severity\n{meds[1].upper()},{meds[0]},major\n")
    loaded = cli("ai", "load-interactions", str(reference))
    assert loaded.code == 0, loaded.err
    result = json.loads(
        cli("ai", "interactions", patient, "--station", home[patient], "--json").out
    )
    assert [(i["drug_a"], i["drug_b"]) for i in result["interactions"]] == [(meds[0], meds[1])]


@pytest.mark.parametrize(
    "command", ["embed", "search", "stale", "interactions", "load-interactions"]
)
def test_every_ai_command_has_help_with_an_example(cli: Invoke, command: str) -> None:
    result = cli("ai", command, "--help")
    assert result.code == 0
    assert "Example" in result.out
