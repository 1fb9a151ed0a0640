"""Bad input at the service's edge: 413, 415, 422, 401; never a 500 or a stack trace (S32)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.api.conftest import PASSWORD, Site, logged_in

pytestmark = [pytest.mark.db, pytest.mark.api]


def test_announced_oversized_body_answers_413(site: Site) -> None:
    big = {"email": "a@va.example.org", "password": "x" * 70_000}
    answer = site.client.post("/api/auth/login", json=big)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


def test_streamed_oversized_body_answers_413(site: Site) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    answer = site.client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/auth/login", "text/plain"),
        ("/api/auth/login", "application/x-www-form-urlencoded"),
        ("/login", "application/json"),
        ("/logout", "text/xml"),
    ],
)
def test_wrong_content_type_answers_415(site: Site, path: str, content_type: str) -> None:
    answer = site.client.post(path, content=b"{}", headers={"Content-Type": content_type})
    assert answer.status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"email": "a@va.example.org"}',
        b'{"email": 5, "password": []}',
        b'{"email": "a@va.example.org", "password": "p", "admin": true}',
        b"\xff\xfe",
        b"[]",
    ],
)
def test_malformed_login_body_answers_422(site: Site, body: bytes) -> None:
    answer = site.client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


ODD_REQUESTS = [
    ("GET", "/api/v1/patients/%C3%A9/chart", {}),
    ("GET", "/patients/%00", {}),
    ("GET", "/patients?q=" + "%" * 50, {}),
    ("GET", "/patients?q=%E2%80%AE", {}),
    ("GET", "/patients?page=-1", {}),
    ("GET", "/patients?size=100000", {}),
    ("GET", "/patients/ICN1/vitals?type=%27;DROP", {}),
    ("GET", "/login?reason=" + "x" * 100, {}),
    ("DELETE", "/api/v1/patients", {}),
    ("PUT", "/login", {}),
    ("GET", "/api/v1/patients?q=a", {"Authorization": "Bearer " + "%" * 43}),
    ("GET", "/api/v1/patients?q=a", {"Authorization": "Basic Zm9vOmJhcg=="}),
    ("GET", "/api/v1/patients?q=a", {"Cookie": "medz1_session=" + "A" * 5000}),
    ("GET", "/api/v1/patients?q=a", {"Cookie": "medz1_session=\x7f"}),
    ("POST", "/api/auth/logout", {"Content-Type": "application/json"}),
    ("GET", "/static/../pyproject.toml", {}),
]


@pytest.mark.parametrize(("method", "path", "headers"), ODD_REQUESTS)
def test_odd_requests_never_answer_500(
    site: Site, method: str, path: str, headers: dict[str, str]
) -> None:
    logged_in(site)
    answer = site.client.request(method, path, headers=headers)
    assert answer.status_code < 500, answer.text
    assert "Traceback" not in answer.text
    assert 'File "' not in answer.text


def test_failed_login_logs_no_password_or_email(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = site.create_user("sentinel.person@va.example.org")
    site.client.post("/api/auth/login", json={"email": email, "password": "Sentinel-Pass-1234"})
    site.login(email, PASSWORD)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Sentinel-Pass-1234", PASSWORD, "sentinel.person"):
        assert secret not in text


@pytest.mark.parametrize("path", ["/patients", "/api/v1/patients"])
@pytest.mark.parametrize("query", ["smith\x00", "\x00", "a\x1bb"])
def test_search_text_with_control_characters_answers_422(site: Site, path: str, query: str) -> None:
    logged_in(site)
    answer = site.client.get(path, params={"q": query})
    assert answer.status_code == 422
    assert "control characters" in answer.text
