"""Login, the session cookie, CSRF, timeouts and logout at the service's edge."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from medz1.auth.errors import LOGIN_FAILED_MESSAGE
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from tests.api.conftest import PASSWORD, Site, logged_in

pytestmark = [pytest.mark.db, pytest.mark.api]


def _set_cookies(answer: Any) -> list[str]:
    return [v for k, v in answer.headers.multi_items() if k == "set-cookie"]


def test_login_cookie_is_httponly_lax_and_not_secure_over_http(site: Site) -> None:
    email = site.create_user()
    answer = site.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    (cookie,) = [c for c in _set_cookies(answer) if c.startswith("medz1_session=")]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert "Path=/" in cookie


def test_secure_service_uses_host_prefix_secure_cookie_and_hsts(
    db_target: Target, role_plan: RolePlan, site_factory: Any
) -> None:
    site: Site = site_factory(db_target, role_plan, service_secure="true")
    email = site.create_user()
    answer = site.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    (cookie,) = [c for c in _set_cookies(answer) if "_session=" in c]
    assert cookie.startswith("__Host-medz1_session=")
    assert "Secure" in cookie
    assert "Domain" not in cookie
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_plain_http_service_sends_no_hsts(site: Site) -> None:
    assert "strict-transport-security" not in site.client.get("/healthz").headers


@pytest.mark.parametrize("case", ["unknown", "wrong", "locked", "disabled", "not_an_email"])
def test_every_bad_login_answers_the_same(site: Site, case: str) -> None:
    email = site.create_user()
    if case == "locked":
        for _ in range(site.service.auth.lockout_threshold):
            site.client.post("/api/auth/login", json={"email": email, "password": "wrong" * 4})
    if case == "disabled":
        with site.admin.begin() as conn:
            conn.execute(text("UPDATE auth.users SET is_active = false"))
    given = {"unknown": "nobody@va.example.org", "not_an_email": "not an address"}
    password = "wrong password, long enough" if case == "wrong" else PASSWORD
    answer = site.client.post(
        "/api/auth/login", json={"email": given.get(case, email), "password": password}
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == LOGIN_FAILED_MESSAGE
    assert not [c for c in _set_cookies(answer) if "_session=" in c]


def test_login_rate_limit_answers_429_with_retry_after(
    db_target: Target, role_plan: RolePlan, site_factory: Any
) -> None:
    site: Site = site_factory(db_target, role_plan, service_login_attempts_per_minute="2")
    email = site.create_user()
    for _ in range(2):
        site.client.post("/api/auth/login", json={"email": email, "password": "x" * 20})
    answer = site.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_made_up_token_planted_before_login_is_refused_after(site: Site) -> None:
    planted = "A" * 43
    site.client.cookies.set("medz1_session", planted, domain="testserver.local")
    site.login(site.create_user())
    assert site.client.cookies.get("medz1_session") != planted
    answer = site.client.get("/api/v1/patients?q=smith", cookies={"medz1_session": planted})
    assert answer.status_code == 401


def test_session_planted_before_login_is_ended_by_the_login(site: Site) -> None:
    planted = site.login(site.create_user())["token"]  # the attacker's own session
    site.login(site.create_user())  # the victim logs in with the planted cookie
    answer = site.client.get(
        "/api/v1/patients?q=smith", headers={"Authorization": f"Bearer {planted}"}
    )
    assert answer.status_code == 401


def test_cookie_logout_without_csrf_token_is_refused(site: Site) -> None:
    body = logged_in(site)
    assert site.client.post("/api/auth/logout").status_code == 403
    wrong = site.client.post("/api/auth/logout", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert site.client.get("/api/v1/patients?q=smith").status_code == 200
    right = site.client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert right.status_code == 204
    assert site.client.get("/api/v1/patients?q=smith").status_code == 401


def test_logout_form_without_csrf_field_is_refused(site: Site) -> None:
    logged_in(site)
    answer = site.client.post("/logout", data={"csrf_token": "forged"})
    assert answer.status_code == 403
    assert site.client.get("/patients").status_code == 200


def test_preferences_form_without_csrf_field_is_refused(site: Site) -> None:
    logged_in(site)
    answer = site.client.post("/preferences", data={"time_zone": "America/New_York"})
    assert answer.status_code == 403


def test_bearer_request_needs_no_csrf_token(site: Site) -> None:
    token = logged_in(site)["token"]
    site.client.cookies.clear()
    answer = site.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 204


def test_login_form_needs_its_csrf_cookie(site: Site) -> None:
    email = site.create_user()
    form = {"email": email, "password": PASSWORD, "csrf_token": "not-the-cookie"}
    assert site.client.post("/login", data=form).status_code == 403


def test_login_form_logs_in_and_redirects_to_search(site: Site) -> None:
    email = site.create_user()
    page = site.client.get("/login")
    field = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": email, "password": PASSWORD, "csrf_token": field}
    answer = site.client.post("/login", data=form)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/patients"
    assert site.client.get("/patients").status_code == 200


def test_login_form_failure_shows_the_generic_message(site: Site) -> None:
    page = site.client.get("/login")
    field = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": "nobody@va.example.org", "password": PASSWORD, "csrf_token": field}
    answer = site.client.post("/login", data=form)
    assert answer.status_code == 401
    assert LOGIN_FAILED_MESSAGE in answer.text


def test_idle_session_sends_page_to_login_with_message(site: Site) -> None:
    logged_in(site)
    site.clock.tick(minutes=site.service.auth.session_idle.total_seconds() / 60, seconds=1)
    answer = site.client.get("/patients")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?reason=expired"
    assert "expired" in site.client.get("/login?reason=expired").text
    assert site.audit_count("session_timeout") == 1


def test_absolute_timeout_answers_api_401(site: Site) -> None:
    logged_in(site)
    absolute = site.service.auth.session_absolute
    while site.clock.now - site.clock.__class__().now < absolute:
        site.clock.tick(minutes=10)  # keep it busy: only the absolute timeout can end it
        site.client.get("/api/v1/patients?q=smith")
    answer = site.client.get("/api/v1/patients?q=smith")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.headers["content-type"] == "application/problem+json"


def test_session_cookie_is_reissued_when_the_session_is_extended(site: Site) -> None:
    logged_in(site)
    site.clock.tick(seconds=10)
    quiet = site.client.get("/patients")
    assert not [c for c in _set_cookies(quiet) if "_session=" in c]
    site.clock.tick(minutes=2)
    extended = site.client.get("/patients")
    (cookie,) = [c for c in _set_cookies(extended) if "_session=" in c]
    assert f"Max-Age={int(site.service.auth.session_idle.total_seconds())}" in cookie


def test_logout_everywhere_ends_every_session_of_the_user(site: Site) -> None:
    email = site.create_user()
    first = site.login(email)["token"]
    second = site.login(email)
    answer = site.client.post(
        "/api/auth/logout-everywhere", headers={"X-CSRF-Token": second["csrf_token"]}
    )
    assert answer.status_code == 204
    for token in (first, second["token"]):
        bearer = {"Authorization": f"Bearer {token}"}
        assert site.client.get("/api/v1/patients?q=a", headers=bearer).status_code == 401


@pytest.mark.parametrize(
    "path", ["/healthz", "/login", "/patients", "/nowhere", "/api/v1/patients", "/static/medz1.css"]
)
def test_every_response_carries_the_security_headers(site: Site, path: str) -> None:
    headers = site.client.get(path).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
