"""Fixtures of the service tests: the real app on a real test database, a movable clock.

``client`` runs ``create_app`` (lifespan included) on the test's own database through
``MEDZ1_DATABASE_URL``, as ``medz1 serve`` would; ``clinical_client`` does the same on a
database of synthetic patients. Password hashes are cheap (the ``cheap_hashing``
fixture), since these tests are not about hashing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from medz1.api import create_app
from medz1.api.service import Service
from medz1.auth import users
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP, AUDITOR, LOADER, REPORTING
from medz1.settings import load_settings
from tests.plugins.synthetic import synthetic_database

PASSWORD = "correct horse battery staple fig"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A UTC clock the test moves."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Site:
    """A running app on a test database."""

    client: TestClient
    clock: Clock
    admin: Engine

    @property
    def service(self) -> Service:
        service: Service = self.client.app.state.medz1  # type: ignore[attr-defined]
        return service

    def create_user(self, email: str | None = None) -> str:
        """Create a clinician with :data:`PASSWORD`; return the e-mail."""
        address = email or f"clinician-{uuid.uuid4().hex[:10]}@va.example.org"
        with unit_of_work(self.service.engine) as session:
            users.create_user(
                session,
                user=users.NewUser(email=address, home_site_sta3n=508),
                password=PASSWORD,
                hasher=self.service.hasher,
                now=self.clock(),
            )
        return address

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in through the JSON API; return its body."""
        answer = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def audit_count(self, event_type: str) -> int:
        """Rows of ``event_type`` in the audit log."""
        with self.admin.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM auth.audit_logs WHERE event_type = :t"),
                    {"t": event_type},
                ).scalar_one()
            )


def _point_at(target: Target, role_plan: RolePlan, monkeypatch: pytest.MonkeyPatch) -> None:
    url = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url)
    for role, alias in ((APP, "APP"), (REPORTING, "REPORTING"), (LOADER, "LOADER")):
        monkeypatch.setenv(f"MEDZ1_{alias}_PASSWORD", role_plan.passwords[role].get_secret_value())
    monkeypatch.setenv("MEDZ1_AUDITOR_PASSWORD", role_plan.passwords[AUDITOR].get_secret_value())


@pytest.fixture
def site_factory(monkeypatch: pytest.MonkeyPatch, cheap_hashing: None) -> Iterator[Any]:
    """Build a :class:`Site` on a target with extra ``MEDZ1_*`` settings."""
    opened: list[tuple[TestClient, Engine]] = []

    def build(target: Target, role_plan: RolePlan, **env: str) -> Site:
        _point_at(target, role_plan, monkeypatch)
        for key, value in env.items():
            monkeypatch.setenv(f"MEDZ1_{key.upper()}", value)
        clock = Clock()
        client = TestClient(create_app(load_settings(), clock=clock), follow_redirects=False)
        client.__enter__()
        admin = make_engine(target.url)
        opened.append((client, admin))
        return Site(client, clock, admin)

    yield build
    for client, admin in opened:
        client.__exit__(None, None, None)
        admin.dispose()


@pytest.fixture
def site(db_target: Target, role_plan: RolePlan, site_factory: Any) -> Site:
    """The app on the test's own (empty) database."""
    built: Site = site_factory(db_target, role_plan)
    return built


@pytest.fixture(scope="module")
def clinical_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    """A database of 12 synthetic patients, shared by a test module (its tests only read
    clinical rows; audit rows they write are counted by difference).
    """
    folder: Path = tmp_path_factory.mktemp("synthetic")
    with synthetic_database(pg_server, role_plan, folder, patients=12) as target:
        yield target


@pytest.fixture
def clinic(clinical_target: Target, role_plan: RolePlan, site_factory: Any) -> Site:
    """The app on the synthetic patients' database."""
    built: Site = site_factory(clinical_target, role_plan)
    return built


def a_patient(site: Site) -> tuple[str, str, str]:
    """ICN, last name and SSN last four of a patient of the site's database."""
    with site.admin.connect() as conn:
        row = conn.execute(
            text(
                "SELECT patient_key, name_last, ssn_last4 FROM patient_demographics "
                "WHERE name_last IS NOT NULL AND ssn_last4 IS NOT NULL "
                "ORDER BY patient_key LIMIT 1"
            )
        ).one()
    return str(row[0]), str(row[1]), str(row[2])


def logged_in(site: Site) -> dict[str, Any]:
    """A new clinician logged in through the JSON API (the client holds the cookie)."""
    return site.login(site.create_user())


def common_initial(site: Site) -> tuple[str, int]:
    """The most common first letter of last names, and how many patients have it."""
    with site.admin.connect() as conn:
        row = conn.execute(
            text(
                "SELECT lower(left(name_last, 1)) AS initial, count(*) FROM patient_demographics "
                "WHERE name_last IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
            )
        ).one()
    return str(row[0]), int(row[1])
