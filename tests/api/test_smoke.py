"""Smoke: the app starts on a real database and answers its probes."""

from __future__ import annotations

import pytest

from tests.api.conftest import Site

pytestmark = [pytest.mark.db, pytest.mark.api]


def test_healthz_answers_ok(site: Site) -> None:
    assert site.client.get("/healthz").json() == {"status": "ok"}


def test_login_then_search(site: Site) -> None:
    email = site.create_user()
    body = site.login(email)
    answer = site.client.get("/patients?q=smith")
    assert answer.status_code == 200, answer.text
    assert body["token"] not in answer.text
