"""Administration pages: administrators see users, sessions and the audit log; others 403."""

from __future__ import annotations

import pytest

from medz1.auth import users
from medz1.db.engine import unit_of_work
from tests.api.conftest import Site

pytestmark = [pytest.mark.db, pytest.mark.api]

PAGES = ["/admin/users", "/admin/sessions", "/admin/audit"]


def _make_admin(site: Site, email: str, admin: bool = True) -> bool:
    with unit_of_work(site.service.engine) as session:
        found = users.find_user(session, email=email)
        return users.set_admin(
            session, user_id=found.user_id, admin=admin, now=site.clock(), actor="test"
        )


@pytest.mark.parametrize("path", PAGES)
def test_clinician_gets_403_and_the_refusal_is_audited(site: Site, path: str) -> None:
    site.login(site.create_user())
    answer = site.client.get(path)
    assert answer.status_code == 403
    assert site.audit_count("access_denied") == 1


@pytest.mark.parametrize("path", PAGES)
def test_admin_pages_need_a_session(site: Site, path: str) -> None:
    assert site.client.get(path).status_code == 303


def test_administrator_sees_users_sessions_and_audit_rows(site: Site) -> None:
    email = site.create_user()
    other = site.create_user()
    _make_admin(site, email)
    body = site.login(email)
    assert other in site.client.get("/admin/users").text
    assert body["session_id"] in site.client.get("/admin/sessions").text
    assert "login_success" in site.client.get("/admin/audit").text
    assert site.audit_count("access_denied") == 0


def test_set_admin_is_audited_once_per_change(site: Site) -> None:
    email = site.create_user()
    assert _make_admin(site, email) is True
    assert _make_admin(site, email) is False
    assert _make_admin(site, email, admin=False) is True
    assert site.audit_count("user_updated") == 2


def test_revoked_administrator_gets_403(site: Site) -> None:
    email = site.create_user()
    _make_admin(site, email)
    site.login(email)
    assert site.client.get("/admin/users").status_code == 200
    _make_admin(site, email, admin=False)
    assert site.client.get("/admin/users").status_code == 403
