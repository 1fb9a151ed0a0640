"""The service reads as the user's home station; break-the-glass through the JSON API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from tests.api.conftest import Site, logged_in
from tests.plugins.synthetic import synthetic_database

HOME = "508"  # the home station of the clinicians Site.create_user makes


@pytest.fixture(scope="module")
def scoped_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("scoped")
    with synthetic_database(
        pg_server, role_plan, folder, patients=30, seed=4, station_scoping=True
    ) as target:
        yield target


@pytest.fixture
def scoped_site(scoped_target: Target, role_plan: RolePlan, site_factory: Any) -> Site:
    built: Site = site_factory(scoped_target, role_plan)
    return built


def _patients(site: Site) -> tuple[str, str]:
    """A patient of the home station and one of another station."""
    with site.admin.connect() as conn:
        home, foreign = conn.execute(
            text(
                "SELECT min(patient_key) FILTER (WHERE primary_station = :s), "
                "min(patient_key) FILTER (WHERE primary_station <> :s) FROM patient_demographics"
            ),
            {"s": HOME},
        ).one()
    assert home
    assert foreign
    return str(home), str(foreign)


def test_home_patients_open_and_foreign_ones_need_a_reason(scoped_site: Site) -> None:
    home, foreign = _patients(scoped_site)
    token = logged_in(scoped_site)["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    client = scoped_site.client
    client.cookies.clear()
    assert client.get(f"/api/v1/patients/{home}/chart", headers=bearer).status_code == 200
    assert client.get(f"/api/v1/patients/{foreign}/chart", headers=bearer).status_code == 404
    found = client.get("/api/v1/patients", params={"q": foreign}, headers=bearer).json()
    assert found["items"] == []
    before = scoped_site.audit_count("break_glass")
    refused = client.post(
        f"/api/v1/patients/{foreign}/break-glass", json={"reason": "   "}, headers=bearer
    )
    assert refused.status_code == 422
    assert (
        client.post(f"/api/v1/patients/{foreign}/break-glass", json={}, headers=bearer).status_code
        == 422
    )
    assert scoped_site.audit_count("break_glass") == before
    made = client.post(
        f"/api/v1/patients/{foreign}/break-glass",
        json={"reason": "emergency department cover", "minutes": 15},
        headers=bearer,
    )
    assert made.status_code == 201, made.text
    assert made.json()["patient_key"] == foreign
    assert scoped_site.audit_count("break_glass") == before + 1
    assert client.get(f"/api/v1/patients/{foreign}/chart", headers=bearer).status_code == 200
    # Another session of another clinician still does not see the patient.
    other = logged_in(scoped_site)["token"]
    client.cookies.clear()
    assert (
        client.get(
            f"/api/v1/patients/{foreign}/chart", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 404
    )


def test_a_cookie_break_glass_without_the_csrf_token_is_refused(scoped_site: Site) -> None:
    _, foreign = _patients(scoped_site)
    logged_in(scoped_site)  # the client now holds the session cookie
    before = scoped_site.audit_count("break_glass")
    answer = scoped_site.client.post(
        f"/api/v1/patients/{foreign}/break-glass", json={"reason": "cover"}
    )
    assert answer.status_code == 403
    assert scoped_site.audit_count("break_glass") == before


def test_the_reason_form_opens_a_foreign_patient_in_the_pages(scoped_site: Site) -> None:
    _, foreign = _patients(scoped_site)
    csrf = logged_in(scoped_site)["csrf_token"]
    client = scoped_site.client
    assert client.get(f"/patients/{foreign}").status_code == 404
    form = client.get(f"/patients/{foreign}/break-glass")
    assert form.status_code == 200
    assert 'name="reason"' in form.text
    before = scoped_site.audit_count("break_glass")
    blank = client.post(
        f"/patients/{foreign}/break-glass", data={"csrf_token": csrf, "reason": "  "}
    )
    assert blank.status_code == 422
    assert scoped_site.audit_count("break_glass") == before
    opened = client.post(
        f"/patients/{foreign}/break-glass",
        data={"csrf_token": csrf, "reason": "on call for the ward", "minutes": "10"},
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/patients/{foreign}"
    assert scoped_site.audit_count("break_glass") == before + 1
    assert client.get(f"/patients/{foreign}").status_code == 200


def _grants(site: Site) -> int:
    with site.admin.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM auth.break_glass_grants")).scalar_one())


def test_break_glass_for_an_unknown_patient_is_404_and_writes_nothing(scoped_site: Site) -> None:
    token = logged_in(scoped_site)["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    client = scoped_site.client
    client.cookies.clear()
    before = (scoped_site.audit_count("break_glass"), _grants(scoped_site))
    answer = client.post(
        "/api/v1/patients/ICN999999999/break-glass",
        json={"reason": "looking for a patient"},
        headers=bearer,
    )
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (scoped_site.audit_count("break_glass"), _grants(scoped_site)) == before


def test_break_glass_refuses_a_body_that_is_not_json_and_a_minutes_string(
    scoped_site: Site,
) -> None:
    _, foreign = _patients(scoped_site)
    token = logged_in(scoped_site)["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    client = scoped_site.client
    client.cookies.clear()
    before = scoped_site.audit_count("break_glass")
    as_form = client.post(
        f"/api/v1/patients/{foreign}/break-glass", data={"reason": "cover"}, headers=bearer
    )
    assert as_form.status_code == 415
    as_text = client.post(
        f"/api/v1/patients/{foreign}/break-glass",
        content=b'{"reason": "cover"}',
        headers={**bearer, "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
    minutes_text = client.post(
        f"/api/v1/patients/{foreign}/break-glass",
        json={"reason": "cover", "minutes": "5"},
        headers=bearer,
    )
    assert minutes_text.status_code == 422
    assert scoped_site.audit_count("break_glass") == before


def test_the_pages_forms_refuse_a_body_that_is_not_a_form(scoped_site: Site) -> None:
    _, foreign = _patients(scoped_site)
    csrf = logged_in(scoped_site)["csrf_token"]
    client = scoped_site.client
    before = scoped_site.audit_count("break_glass")
    for path, body in (
        (f"/patients/{foreign}/break-glass", {"csrf_token": csrf, "reason": "on call"}),
        ("/preferences", {"csrf_token": csrf, "time_zone": "UTC"}),
    ):
        answer = client.post(path, json=body)
        assert answer.status_code == 415, (path, answer.text)
    assert scoped_site.audit_count("break_glass") == before
