"""Patient pages: search, dashboard, domain pages, time zones, and the access log (S33)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from medz1.api import views
from medz1.api.views import DOMAINS
from tests.api.conftest import Site, a_patient, common_initial, logged_in

pytestmark = [pytest.mark.db, pytest.mark.api]


def _views(site: Site, icn: str, page: str) -> int:
    with site.admin.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM auth.audit_logs WHERE event_type = 'patient_view' "
                    "AND details->>'patient_key' = :icn AND details->>'page' = :page"
                ),
                {"icn": icn, "page": page},
            ).scalar_one()
        )


@pytest.mark.parametrize("by", ["name", "icn", "last4"])
def test_search_finds_the_patient_by_name_icn_or_last4(clinic: Site, by: str) -> None:
    logged_in(clinic)
    icn, last, last4 = a_patient(clinic)
    query = {"name": last, "icn": icn.lower(), "last4": last4}[by]
    answer = clinic.client.get("/patients", params={"q": query})
    assert answer.status_code == 200
    assert f'href="/patients/{icn}"' in answer.text


def test_search_pages_through_every_match_once(clinic: Site) -> None:
    logged_in(clinic)
    initial, count = common_initial(clinic)
    seen: list[str] = []
    for page in range(1, count + 2):
        answer = clinic.client.get("/patients", params={"q": initial, "page": page, "size": 1})
        seen += re.findall(r'href="/patients/(\w+)"', answer.text)
    assert count >= 2
    assert len(seen) == count == len(set(seen))


def test_dashboard_shows_the_patient_and_is_audited_once(clinic: Site) -> None:
    logged_in(clinic)
    icn, last, _ = a_patient(clinic)
    before = _views(clinic, icn, "chart")
    answer = clinic.client.get(f"/patients/{icn}")
    assert answer.status_code == 200
    assert last in answer.text
    for heading in ("Vitals", "Flags", "Allergies", "Medications", "Encounters", "Labs"):
        assert f">{heading}</a></h2>" in answer.text
    assert _views(clinic, icn, "chart") == before + 1


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_page_is_audited_once_per_view(clinic: Site, domain: str) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    before = _views(clinic, icn, domain)
    for _ in range(2):
        assert clinic.client.get(f"/patients/{icn}/{domain}").status_code == 200
    assert _views(clinic, icn, domain) == before + 2


def test_patient_view_row_names_who_which_patient_and_page(clinic: Site) -> None:
    body = logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    clinic.client.get(f"/patients/{icn}/labs")
    with clinic.admin.connect() as conn:
        row = conn.execute(
            text(
                "SELECT session_id, user_id, event_timestamp, details FROM auth.audit_logs "
                "WHERE event_type = 'patient_view' ORDER BY chain_seq DESC LIMIT 1"
            )
        ).one()
    assert str(row.session_id) == body["session_id"]
    assert row.user_id is not None
    assert row.event_timestamp is not None
    assert row.details == {"patient_key": icn, "page": "labs"}


def test_unknown_patient_answers_404_and_is_not_audited(clinic: Site) -> None:
    logged_in(clinic)
    before = clinic.audit_count("patient_view")
    assert clinic.client.get("/patients/ICN999999999").status_code == 404
    assert clinic.client.get("/patients/ICN999999999/vitals").status_code == 404
    assert clinic.client.get("/patients/not-an-icn!").status_code == 404
    assert clinic.audit_count("patient_view") == before


def test_unknown_domain_answers_404(clinic: Site) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    assert clinic.client.get(f"/patients/{icn}/secrets").status_code == 404


def test_pages_need_a_session(clinic: Site) -> None:
    icn, _, _ = a_patient(clinic)
    answer = clinic.client.get(f"/patients/{icn}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_times_are_shown_in_the_users_time_zone(clinic: Site) -> None:
    body = logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d (\w+)")
    before = set(stamp.findall(clinic.client.get(f"/patients/{icn}/encounters").text))
    saved = clinic.client.post(
        "/preferences", data={"time_zone": "America/New_York", "csrf_token": body["csrf_token"]}
    )
    assert saved.status_code == 303
    after = set(stamp.findall(clinic.client.get(f"/patients/{icn}/encounters").text))
    assert before == {"UTC"}
    assert after
    assert after <= {"EST", "EDT"}


def test_unknown_time_zone_is_refused(clinic: Site) -> None:
    body = logged_in(clinic)
    answer = clinic.client.post(
        "/preferences", data={"time_zone": "Mars/Olympus", "csrf_token": body["csrf_token"]}
    )
    assert answer.status_code == 422


def test_vital_history_and_inpatient_administrations_page(clinic: Site) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    assert clinic.client.get(f"/patients/{icn}/vitals?type=BP&size=2").status_code == 200
    assert clinic.client.get(f"/patients/{icn}/medications?kind=inpatient").status_code == 200
    assert clinic.client.get(f"/patients/{icn}/medications?kind=bogus").status_code == 422


def test_a_view_whose_audit_row_cannot_be_written_shows_nothing(site: Site) -> None:
    with site.admin.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient_demographics (patient_key, icn, name_last, name_display, "
                "primary_station) VALUES ('ICN424242', 'ICN424242', 'ZEBULON', 'ZEBULON, ADA', "
                "'508')"  # the clinicians' home station (station scoping)
            )
        )
    logged_in(site)
    assert site.client.get("/patients/ICN424242").status_code == 200
    with site.admin.begin() as conn:
        conn.execute(text("REVOKE INSERT ON auth.audit_logs FROM med_z1_user"))
    for path in ("/patients/ICN424242", "/api/v1/patients/ICN424242/chart"):
        answer = site.client.get(path)
        assert answer.status_code == 500
        assert "ZEBULON" not in answer.text
    assert site.audit_count("patient_view") == 1


@pytest.mark.parametrize("path", ["", "/encounters"])
def test_patient_pages_read_the_time_zone_in_their_read(
    clinic: Site, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # The dashboard and domain pages read the user's zone in the transaction of the
    # patient read (one checkout, BEGIN and COMMIT fewer), not in a separate call.
    body = logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    clinic.client.post(
        "/preferences", data={"time_zone": "America/New_York", "csrf_token": body["csrf_token"]}
    )

    def separate_lookup(*_: object) -> None:
        raise AssertionError("the time zone was read in a transaction of its own")

    monkeypatch.setattr(views, "time_zone", separate_lookup)
    answer = clinic.client.get(f"/patients/{icn}{path}")
    assert answer.status_code == 200
    zones = set(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d (\w+)", answer.text))
    assert zones
    assert zones <= {"EST", "EDT"}
