"""``medz1 users set-admin``: grant and revoke the service's administrator role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from medz1.auth import users
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from tests.cli.conftest import Invoke
from tests.plugins.auth import PASSWORD, cheap_hasher
from tests.plugins.synthetic import app_engine

pytestmark = pytest.mark.db


def _is_admin(target: Target, email: str) -> bool:
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT is_admin FROM auth.users WHERE email = :e"), {"e": email}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_set_admin_grants_and_revoke_takes_back(
    cli: Invoke, db_target: Target, role_plan: RolePlan, database_url_env: str
) -> None:
    email = "admin.person@va.example.org"
    with app_engine(db_target, role_plan) as engine, unit_of_work(engine) as session:
        users.create_user(
            session,
            user=users.NewUser(email=email),
            password=PASSWORD,
            hasher=cheap_hasher(),
            now=datetime.now(UTC),
        )
    assert _is_admin(db_target, email) is False
    granted = cli("users", "set-admin", email)
    assert granted.code == 0, granted.err
    assert "is now an administrator" in granted.out
    assert _is_admin(db_target, email) is True
    revoked = cli("users", "set-admin", email, "--revoke")
    assert revoked.code == 0, revoked.err
    assert _is_admin(db_target, email) is False


def test_set_admin_of_an_unknown_user_exits_6(cli: Invoke, database_url_env: str) -> None:
    assert cli("users", "set-admin", "nobody@va.example.org").code == 6
