"""``medz1 patients`` with station scoping on: ``--station`` and ``--break-glass REASON``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import typer
from sqlalchemy import text

from medz1.cli import main
from medz1.cli import patients as patients_cmd
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP
from tests.cli.conftest import Invoke
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def scoped_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("cli-scoped")
    with synthetic_database(
        pg_server, role_plan, folder, patients=20, seed=9, station_scoping=True
    ) as target:
        yield target


@pytest.fixture
def scoped_cli(
    cli: Invoke, scoped_target: Target, role_plan: RolePlan, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    url = scoped_target.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url)
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", role_plan.passwords[APP].get_secret_value())
    if "patients" not in {group.name for group in main.app.registered_groups}:
        local = typer.Typer(pretty_exceptions_enable=False)
        local.callback()(main.main)
        local.add_typer(patients_cmd.app, name="patients")
        monkeypatch.setattr(main, "app", local)
    return cli


def _stations(target: Target) -> tuple[str, str, str]:
    """A station, one of its patients, and a patient of another station."""
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            station, home = conn.execute(
                text(
                    "SELECT primary_station, min(patient_key) FROM patient_demographics "
                    "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                )
            ).one()
            foreign = conn.execute(
                text(
                    "SELECT min(patient_key) FROM patient_demographics WHERE primary_station <> :s"
                ),
                {"s": station},
            ).scalar_one()
    finally:
        engine.dispose()
    return str(station), str(home), str(foreign)


def _break_glass_rows(target: Target) -> int:
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM auth.audit_logs WHERE event_type = 'break_glass'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_show_reads_as_the_station_and_breaks_the_glass_with_a_reason(
    scoped_cli: Invoke, scoped_target: Target
) -> None:
    station, home, foreign = _stations(scoped_target)
    assert scoped_cli("patients", "show", home, "--station", station, "--json").code == 0
    assert scoped_cli("patients", "show", home).code == 6  # no station: nothing visible
    refused = scoped_cli("patients", "show", foreign, "--station", station)
    assert refused.code == 6
    assert "--break-glass" in refused.err
    before = _break_glass_rows(scoped_target)
    opened = scoped_cli(
        "patients", "show", foreign, "--station", station, "--break-glass", "consult", "--json"
    )
    assert opened.code == 0, opened.err
    assert json.loads(opened.out)["demographics"]["patient_key"] == foreign
    assert _break_glass_rows(scoped_target) == before + 1
    # The grant was for that command only.
    assert scoped_cli("patients", "show", foreign, "--station", station).code == 6


@pytest.mark.parametrize(
    "args",
    [
        ("--station", "abc"),
        ("--station", "508; DROP"),
        ("--station", "508", "--break-glass", ""),
        ("--station", "508", "--break-glass", "   "),
    ],
)
def test_a_bad_station_or_an_empty_reason_is_a_usage_error(
    scoped_cli: Invoke, scoped_target: Target, args: tuple[str, ...]
) -> None:
    _, _, foreign = _stations(scoped_target)
    before = _break_glass_rows(scoped_target)
    result = scoped_cli("patients", "show", foreign, *args)
    assert result.code == 2
    assert "hint:" in result.err
    assert _break_glass_rows(scoped_target) == before


def test_search_finds_only_the_stations_patients(scoped_cli: Invoke, scoped_target: Target) -> None:
    station, home, foreign = _stations(scoped_target)
    found = scoped_cli("patients", "search", home, "--station", station, "--json")
    assert [p["patient_key"] for p in json.loads(found.out)] == [home]
    hidden = scoped_cli("patients", "search", foreign, "--station", station, "--json")
    assert json.loads(hidden.out) == []


def _views(target: Target, icn: str) -> list[tuple[str, str | None, str | None]]:
    """(event, email, user_agent) of each patient_view and break_glass row about ``icn``."""
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_type, email, user_agent FROM auth.audit_logs "
                    "WHERE details->>'patient_key' = :icn ORDER BY chain_seq"
                ),
                {"icn": icn},
            ).all()
    finally:
        engine.dispose()
    return [(str(r.event_type), r.email, r.user_agent) for r in rows]


def test_show_audits_every_view_of_a_chart_naming_the_os_user(
    scoped_cli: Invoke, scoped_target: Target
) -> None:
    station, home, _ = _stations(scoped_target)
    before = _views(scoped_target, home)
    assert scoped_cli("patients", "show", home, "--station", station, "--json").code == 0
    [(event, email, agent)] = _views(scoped_target, home)[len(before) :]
    assert (event, email) == ("patient_view", None)
    assert "OS user" in str(agent)


def test_show_as_a_user_reads_at_their_home_station_and_names_them_in_the_audit_rows(
    scoped_cli: Invoke,
    scoped_target: Target,
    cheap_hashing: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    station, home, foreign = _stations(scoped_target)
    email = f"reader{station.lower()}@va.example.org"
    monkeypatch.setattr("sys.stdin", io.StringIO("quiet harbor lamp at dawn\n"))
    scoped_cli("users", "add", email, "--station", station[:3], "--password-stdin")
    if not station.isdigit():
        pytest.skip("the busiest synthetic station is a division")
    assert scoped_cli("patients", "show", home, "--as", email, "--json").code == 0
    assert _views(scoped_target, home)[-1][:2] == ("patient_view", email)
    opened = scoped_cli("patients", "show", foreign, "--as", email, "--break-glass", "consult")
    assert opened.code == 0, opened.err
    assert [v[:2] for v in _views(scoped_target, foreign)[-2:]] == [
        ("break_glass", email),
        ("patient_view", email),
    ]
