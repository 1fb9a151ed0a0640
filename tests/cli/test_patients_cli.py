"""``medz1 patients search | show`` on demo data, through the command's error boundary."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer

from medz1.cli import main
from medz1.cli import patients as patients_cmd
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP
from tests.cli.conftest import Invoke
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def demo_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("cli-demo")
    with synthetic_database(pg_server, role_plan, folder, patients=20, seed=9) as target:
        yield target


@pytest.fixture
def patients_cli(
    cli: Invoke, demo_target: Target, role_plan: RolePlan, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    """``medz1`` with the ``patients`` group, pointed at the demo database."""
    url = demo_target.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url)
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", role_plan.passwords[APP].get_secret_value())
    if "patients" not in {group.name for group in main.app.registered_groups}:
        local = typer.Typer(pretty_exceptions_enable=False)
        local.callback()(main.main)
        local.add_typer(patients_cmd.app, name="patients")
        monkeypatch.setattr(main, "app", local)
    return cli


def test_search_finds_patients_by_last_name_prefix(patients_cli: Invoke) -> None:
    shown = patients_cli("patients", "search", "ICN100003", "--json")
    last_name = json.loads(shown.out)[0]["name_last"]
    result = patients_cli("patients", "search", last_name[:2].lower())
    assert result.code == 0
    assert "ICN100003" in result.out


def test_search_by_icn_prints_json_records(patients_cli: Invoke) -> None:
    result = patients_cli("patients", "search", "icn100007", "--json")
    assert result.code == 0
    [patient] = json.loads(result.out)
    assert patient["icn"] == "ICN100007"
    assert {"name_display", "dob", "primary_station", "ssn_last4"} <= set(patient)


def test_search_without_a_match_says_so(patients_cli: Invoke) -> None:
    result = patients_cli("patients", "search", "zzzz")
    assert result.code == 0
    assert "no patient matches" in result.err  # piped: stdout holds only the rows


def test_show_renders_the_seven_sections(patients_cli: Invoke) -> None:
    name = json.loads(patients_cli("patients", "search", "ICN100001", "--json").out)[0]
    result = patients_cli("patients", "show", "icn100001")
    assert result.code == 0
    assert name["name_display"] in result.out
    for heading in ("Vitals", "flags", "Allergies", "Medications", "Encounters", "Labs"):
        assert heading in result.out


def test_show_json_has_every_domain(patients_cli: Invoke) -> None:
    result = patients_cli("patients", "show", "ICN100002", "--json")
    assert result.code == 0
    chart = json.loads(result.out)
    assert chart["demographics"]["icn"] == "ICN100002"
    assert chart["vitals"]
    assert chart["lab_panels"][0]["results"]


def test_show_of_an_unknown_icn_is_one_line_with_a_hint(patients_cli: Invoke) -> None:
    result = patients_cli("patients", "show", "ICN999999")
    assert result.code == 6
    assert result.err.startswith("error: no patient with ICN ICN999999")
    assert "medz1 patients search" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_deceased_patients_age_is_labelled_as_age_at_death(
    patients_cli: Invoke, demo_target: Target
) -> None:
    from sqlalchemy import text

    from medz1.dal.chart import refresh_documents
    from medz1.db.engine import make_engine

    engine = make_engine(demo_target.url)
    pick = (
        "SELECT icn, deceased_flag, death_date FROM patient_demographics "
        "WHERE dob IS NOT NULL AND coalesce(deceased_flag, 'N') <> 'Y' ORDER BY icn LIMIT 2"
    )
    try:
        with engine.begin() as conn:
            (icn, flag, died), (alive_icn, _, _) = conn.execute(text(pick)).all()
            conn.execute(
                text(
                    "UPDATE patient_demographics SET deceased_flag = 'Y', "
                    "death_date = CAST(dob + interval '40 years' AS date) WHERE icn = :icn"
                ),
                {"icn": icn},
            )
            # Rows changed outside the loader: rebuild the chart documents as a load would.
            refresh_documents(conn, None)
        try:
            shown = patients_cli("patients", "show", icn)
            alive = patients_cli("patients", "show", alive_icn)
        finally:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE patient_demographics SET deceased_flag = :flag, "
                        "death_date = :died WHERE icn = :icn"
                    ),
                    {"flag": flag, "died": died, "icn": icn},
                )
                refresh_documents(conn, None)
    finally:
        engine.dispose()
    assert shown.code == 0, shown.err
    assert "(age 40 at death)" in shown.out
    assert alive.code == 0, alive.err
    assert "at death" not in alive.out
