"""The authentication store of a test database: the ``store`` fixture and its helpers.

``open_store`` gives a test the application's engine (``med_z1_user``, as the service
connects), an administrator engine for looking behind the scenes, a cheap argon2 hasher
(tests that are not about hashing need no 64 MiB hashes) and a clock the test moves.
"""

from __future__ import annotations

import importlib
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from medz1.auth import config as auth_config
from medz1.auth import login as login_mod
from medz1.auth import users
from medz1.auth.config import AuthConfig
from medz1.auth.login import LoginAttempt
from medz1.auth.passwords import HashParams, PasswordHasher
from medz1.auth.records import UserRecord
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.settings import Settings

CHEAP = HashParams(time_cost=1, memory_cost_kib=8, parallelism=1)
LEGACY_COST = 4
"""bcrypt cost of the legacy hashes tests make (med-z1 used 12; 4 keeps tests fast)."""
PASSWORD = "correct horse battery staple fig"  # a passphrase not on the blocklist
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def report(figure: str) -> None:
    """Log a measured figure (see them with ``--log-cli-level=INFO``)."""
    logging.getLogger("medz1.tests.figures").info(figure)


def cheap_hasher() -> PasswordHasher:
    """argon2id with the cheapest parameters argon2 accepts, and failures padded with a
    bcrypt computation of the cheapest cost (tests only).
    """
    return PasswordHasher(CHEAP, allow_weak=True, legacy_bcrypt_cost=LEGACY_COST)


#: Modules that build a hasher from settings; imported before :func:`cheap_hashing` looks.
_HASHING_EDGES = ("medz1.cli.main", "medz1.api.app")


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hasher the command and the service build from settings is :func:`cheap_hasher`.

    Settings refuse argon2id parameters below the S1 floor and no setting weakens that, so
    tests that are not about hashing replace the factory wherever a module imported it.
    """
    for name in _HASHING_EDGES:
        importlib.import_module(name)
    original = auth_config.hasher_from_settings

    def cheap(_settings: Settings) -> PasswordHasher:
        return cheap_hasher()

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("medz1") and (
            getattr(module, "hasher_from_settings", None) is original
        ):
            monkeypatch.setattr(module, "hasher_from_settings", cheap)


@dataclass
class Store:
    """The authentication store of one test database, with a clock the test controls."""

    target: Target
    app: Engine
    admin: Engine
    hasher: PasswordHasher
    config: AuthConfig
    now: datetime = START
    _users: int = field(default=0)

    def tick(self, **delta: float) -> datetime:
        """Move the clock forward, e.g. ``tick(minutes=15)``; return the new time."""
        self.now += timedelta(**delta)
        return self.now

    def create_user(
        self, email: str | None = None, *, password: str = PASSWORD, station: int | None = 508
    ) -> UserRecord:
        """Create (and commit) a user; a fresh address when none is given."""
        self._users += 1
        address = email if email is not None else f"clinician{self._users}@va.example.org"
        with unit_of_work(self.app) as session:
            return users.create_user(
                session,
                user=users.NewUser(email=address, home_site_sta3n=station),
                password=password,
                hasher=self.hasher,
                now=self.now,
            )

    def attempt(
        self,
        email: str,
        password: str = PASSWORD,
        *,
        ip: str | None = "10.0.0.1",
        user_agent: str | None = "pytest",
        config: AuthConfig | None = None,
    ) -> LoginAttempt:
        """One login attempt, committed whatever its outcome."""
        return login_mod.attempt(
            self.app,
            email=email,
            password=password,
            ip=ip,
            user_agent=user_agent,
            now=self.now,
            hasher=self.hasher,
            config=config or self.config,
        )

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value, read as the administrator."""
        with self.admin.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def events(self, event_type: str, *, user_id: uuid.UUID | None = None) -> int:
        """Number of audit rows of ``event_type`` (of one user if given)."""
        return int(
            self.scalar(
                "SELECT count(*) FROM auth.audit_logs WHERE event_type = :t "
                "AND (CAST(:u AS uuid) IS NULL OR user_id = :u)",
                t=event_type,
                u=user_id,
            )
        )

    def active_sessions(self, user_id: uuid.UUID) -> int:
        """Sessions of the user still marked active."""
        return int(
            self.scalar(
                "SELECT count(*) FROM auth.sessions WHERE user_id = :u AND is_active", u=user_id
            )
        )


@contextmanager
def open_store(
    target: Target, role_plan: RolePlan, config: AuthConfig | None = None, **engine_args: Any
) -> Iterator[Store]:
    """A :class:`Store` on ``target``; its engines are disposed afterwards."""
    app = engine_for_role(target, "app", role_plan.passwords, **engine_args)
    admin = make_engine(target.url)
    try:
        yield Store(target, app, admin, cheap_hasher(), config or AuthConfig())
    finally:
        app.dispose()
        admin.dispose()


@pytest.fixture
def store(db_target: Target, role_plan: RolePlan) -> Iterator[Store]:
    """The authentication store of the test's own database.

    Its application pool may open up to 60 connections (the app role's default limit), so
    tests that log in concurrently need no store of their own; connections are opened
    only when used.
    """
    with open_store(db_target, role_plan, pool_size=60, max_overflow=0) as opened:
        yield opened
