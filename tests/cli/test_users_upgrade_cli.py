"""``medz1 users upgrade-hashes``: bare legacy bcrypt hashes wrapped in argon2id, audited,
idempotent.
"""

from __future__ import annotations

import io

import bcrypt
import pytest
from sqlalchemy import Engine, text

from medz1.auth.passwords import identify_scheme
from tests.cli.conftest import Invoke

pytestmark = pytest.mark.db

PASSWORD = "quiet harbor lamp at dawn"


@pytest.fixture
def users_cli(cli: Invoke, database_url_env: str, cheap_hashing: None) -> Invoke:
    return cli


def test_upgrade_hashes_wraps_legacy_hashes_once_and_audits_them(
    users_cli: Invoke, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert users_cli("users", "add", "house@va.example.org", "--password-stdin").code == 0
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with engine.begin() as conn:
        conn.execute(text("UPDATE auth.users SET password_hash = :h"), {"h": legacy})
    first = users_cli("users", "upgrade-hashes")
    assert (first.code, first.out.strip()) == (0, "1 legacy hash(es) wrapped in argon2id")
    second = users_cli("users", "upgrade-hashes")
    assert second.out.strip() == "nothing to do: no legacy hashes to wrap"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM auth.users")).scalar_one()
        rehashed = conn.execute(
            text("SELECT count(*) FROM auth.audit_logs WHERE event_type = 'password_rehashed'")
        ).scalar_one()
    assert identify_scheme(stored) == "bcrypt-argon2id"
    assert rehashed == 1
    assert legacy not in first.out + first.err
