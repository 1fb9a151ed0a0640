"""Passwords in the store: production argon2id parameters (S1), no 72-byte truncation (S2),
rules for new passwords (S3, S4), legacy bcrypt wrapped at once and old argon2 rehashed at
login (S5). Hash and verify times are figures of ``bench/bench_auth.py``, not tests.
"""

from __future__ import annotations

import bcrypt
import pytest
from sqlalchemy import text

from medz1.auth import users
from medz1.auth.password_rules import PasswordRuleError, PasswordRuleReason
from medz1.auth.passwords import (
    HashParams,
    PasswordHasher,
    hash_meets_floor,
    identify_scheme,
    stored_hash_problem,
)
from medz1.db.engine import unit_of_work
from tests.plugins.auth import LEGACY_COST, PASSWORD, Store

pytestmark = pytest.mark.db


def _stored_hash(store: Store, email: str) -> str:
    return str(store.scalar("SELECT password_hash FROM auth.users WHERE email = :e", e=email))


def _set_hash(store: Store, email: str, stored: str) -> None:
    with store.admin.begin() as conn:
        conn.execute(
            text("UPDATE auth.users SET password_hash = :h WHERE email = :e"),
            {"h": stored, "e": email},
        )


def test_every_stored_hash_meets_the_floor_with_production_parameters(store: Store) -> None:
    store.hasher = PasswordHasher()  # argon2-cffi defaults: m=64 MiB, t=3, p=4
    for _ in range(3):
        store.create_user()
    with store.admin.connect() as conn:
        hashes = [
            str(h) for h in conn.execute(text("SELECT password_hash FROM auth.users")).scalars()
        ]
    assert len(hashes) == 3
    assert all(hash_meets_floor(h) for h in hashes)
    assert HashParams.from_hash(hashes[0]) == HashParams()


def test_passwords_sharing_72_leading_bytes_do_not_both_log_in(store: Store) -> None:
    prefix = "é" * 36  # 72 bytes of UTF-8
    user = store.create_user(password=prefix + " first tail")
    assert store.attempt(user.email, prefix + " first tail").ok
    assert not store.attempt(user.email, prefix + " other tail").ok


def test_bcrypt_user_with_long_password_is_not_matched_on_72_bytes(store: Store) -> None:
    user = store.create_user()
    long_password = "a" * 72 + "tail"
    _set_hash(
        store, user.email, bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    )
    assert not store.attempt(user.email, "a" * 72 + "other").ok


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("fourteen chars", PasswordRuleReason.TOO_SHORT),
        ("x" * 129 + " y", PasswordRuleReason.TOO_LONG),
        ("passwordpassword", PasswordRuleReason.BLOCKLISTED),
        ("clinician1 loves tea", PasswordRuleReason.CONTEXT_WORD),
        ("tab\tinside the password", PasswordRuleReason.CONTROL_CHARACTER),
    ],
)
def test_new_password_is_refused_with_a_reason_and_nothing_is_created(
    store: Store, password: str, reason: PasswordRuleReason
) -> None:
    with pytest.raises(PasswordRuleError) as caught:
        store.create_user("clinician1@va.example.org", password=password)
    assert caught.value.reason is reason
    assert password not in str(caught.value)
    assert store.scalar("SELECT count(*) FROM auth.users") == 0


@pytest.mark.parametrize("length", [15, 64, 128])
def test_new_passwords_of_15_64_and_128_characters_are_accepted(store: Store, length: int) -> None:
    password = ("quiet harbor lamp " * 10)[:length]
    password = password[:-1] + "z"  # no trailing space to strip
    user = store.create_user(password=password)
    assert store.attempt(user.email, password).ok


def test_legacy_bcrypt_hash_logs_in_and_leaves_argon2id_behind(store: Store) -> None:
    user = store.create_user()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    assert legacy.startswith("$2b$12$")
    _set_hash(store, user.email, legacy)
    assert store.attempt(user.email).ok
    assert identify_scheme(_stored_hash(store, user.email)) == "argon2id"
    assert store.events("password_rehashed", user_id=user.user_id) == 1
    assert store.attempt(user.email).ok
    assert store.events("password_rehashed", user_id=user.user_id) == 1


def test_wrong_password_on_a_bcrypt_hash_changes_nothing(store: Store) -> None:
    user = store.create_user()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    _set_hash(store, user.email, legacy)
    assert not store.attempt(user.email, "a wrong password here").ok
    assert _stored_hash(store, user.email) == legacy


def test_argon2_hash_with_old_parameters_is_rehashed_at_login(store: Store) -> None:
    user = store.create_user()
    store.hasher = PasswordHasher(
        HashParams(time_cost=2, memory_cost_kib=16, parallelism=1), allow_weak=True
    )
    assert store.attempt(user.email).ok
    assert HashParams.from_hash(_stored_hash(store, user.email)).time_cost == 2
    details = store.scalar(
        "SELECT details FROM auth.audit_logs WHERE event_type = 'password_rehashed'"
    )
    assert details == {"from": "argon2id", "to": "argon2id"}


def test_set_password_by_an_administrator_ends_every_session(store: Store) -> None:
    user = store.create_user()
    store.attempt(user.email).unwrap()
    with unit_of_work(store.app) as session:
        users.set_password(
            session,
            user_id=user.user_id,
            new_password="a completely new passphrase",
            hasher=store.hasher,
            now=store.now,
        )
    assert store.active_sessions(user.user_id) == 0
    assert not store.attempt(user.email).ok
    assert store.attempt(user.email, "a completely new passphrase").ok


def _legacy(password: str = PASSWORD) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(LEGACY_COST)).decode()


def _upgrade(store: Store) -> int:
    with unit_of_work(store.app) as session:
        return users.upgrade_legacy_hashes(session, hasher=store.hasher, now=store.now, actor="t")


def test_upgrade_wraps_every_bare_bcrypt_hash_in_argon2id_once(store: Store) -> None:
    legacy_users = [store.create_user() for _ in range(2)]
    modern = store.create_user()
    for user in legacy_users:
        _set_hash(store, user.email, _legacy())
    modern_hash = _stored_hash(store, modern.email)
    assert _upgrade(store) == 2
    wrapped = [_stored_hash(store, user.email) for user in legacy_users]
    assert [identify_scheme(h) for h in wrapped] == ["bcrypt-argon2id"] * 2
    assert _stored_hash(store, modern.email) == modern_hash
    assert store.events("password_rehashed") == 2
    assert _upgrade(store) == 0
    assert [_stored_hash(store, user.email) for user in legacy_users] == wrapped
    assert store.events("password_rehashed") == 2


def test_wrapped_legacy_hash_logs_in_and_leaves_plain_argon2id_behind(store: Store) -> None:
    user = store.create_user()
    _set_hash(store, user.email, _legacy())
    _upgrade(store)
    assert not store.attempt(user.email, "a wrong password here").ok
    assert identify_scheme(_stored_hash(store, user.email)) == "bcrypt-argon2id"
    assert store.attempt(user.email).ok
    assert identify_scheme(_stored_hash(store, user.email)) == "argon2id"
    details = store.scalar(
        "SELECT details FROM auth.audit_logs WHERE event_type = 'password_rehashed' "
        "ORDER BY chain_seq DESC LIMIT 1"
    )
    assert details == {"from": "bcrypt-argon2id", "to": "argon2id"}


def test_no_stored_hash_has_a_floor_problem_after_upgrade_with_production_parameters(
    store: Store,
) -> None:
    store.hasher = PasswordHasher()
    user = store.create_user()
    _set_hash(store, user.email, _legacy())
    assert stored_hash_problem(_stored_hash(store, user.email)) is not None
    _upgrade(store)
    with store.admin.connect() as conn:
        hashes = list(conn.execute(text("SELECT password_hash FROM auth.users")).scalars())
    assert [stored_hash_problem(h) for h in hashes] == [None]
