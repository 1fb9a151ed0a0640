"""The viewer obeys its system settings: the banner on every page, maintenance mode."""

from __future__ import annotations

import pytest

from medz1.admin.system_settings import set_setting
from medz1.auth import users
from medz1.db.engine import unit_of_work
from tests.api.conftest import Site

pytestmark = [pytest.mark.db, pytest.mark.api]


def _set(site: Site, key: str, value: object) -> None:
    with unit_of_work(site.service.engine) as session:
        set_setting(session, key, value, actor="test@va.example.org")
    site.service.notice.invalidate()


def test_the_banner_message_is_shown_on_every_page_and_escaped(site: Site) -> None:
    site.login(site.create_user())
    assert 'class="banner"' not in site.client.get("/patients").text
    _set(site, "viewer.banner_message", "Downtime <tonight> at 22:00")
    for path in ("/patients", "/preferences"):
        page = site.client.get(path)
        assert page.status_code == 200
        assert "Downtime &lt;tonight&gt; at 22:00" in page.text
    _set(site, "viewer.banner_message", "")
    assert 'class="banner"' not in site.client.get("/patients").text


def test_maintenance_mode_closes_the_viewer_to_all_but_administrators(site: Site) -> None:
    clinician = site.create_user()
    administrator = site.create_user()
    with unit_of_work(site.service.engine) as session:
        found = users.find_user(session, email=administrator)
        users.set_admin(session, user_id=found.user_id, admin=True, now=site.clock(), actor="t")
    token = site.login(clinician)["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    _set(site, "viewer.maintenance_mode", True)
    page = site.client.get("/patients")
    assert page.status_code == 503
    assert page.headers["retry-after"].isdigit()
    site.client.cookies.clear()
    api = site.client.get("/api/v1/patients", params={"q": "smith"}, headers=bearer)
    assert api.status_code == 503
    assert api.headers["content-type"].startswith("application/problem+json")
    assert site.client.get("/healthz").status_code == 200
    site.login(administrator)
    assert site.client.get("/patients").status_code == 200
    _set(site, "viewer.maintenance_mode", False)
    site.client.cookies.clear()
    assert (
        site.client.get("/api/v1/patients", params={"q": "smith"}, headers=bearer).status_code
        == 200
    )
