"""Login and lockout: one generic failure after the same work (S6), lockout edges (S8),
race-free counting without a lock held while hashing (S9), bad input, shadowed built-ins.
Timing figures are in ``bench/bench_auth.py``, not here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import bcrypt
import pytest
from sqlalchemy import text

from medz1.auth import users
from medz1.auth.errors import AuthenticationFailed
from medz1.auth.login import LoginAttempt
from medz1.auth.passwords import HashParams, PasswordHasher, Verification
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from tests.plugins.auth import CHEAP, LEGACY_COST, PASSWORD, Store, open_store, report

pytestmark = pytest.mark.db

WRONG = "not the password at all, sorry"


def _message(attempt: LoginAttempt) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        attempt.unwrap()
    return str(caught.value)


def test_login_returns_a_token_for_a_new_session(store: Store) -> None:
    user = store.create_user()
    result = store.attempt(user.email).unwrap()
    assert len(result.token) == 43
    assert result.user.user_id == user.user_id
    assert store.active_sessions(user.user_id) == 1
    assert store.events("login_success", user_id=user.user_id) == 1


def test_email_is_matched_case_insensitively_and_stripped(store: Store) -> None:
    user = store.create_user("Dr.Who@VA.example.org")
    assert user.email == "dr.who@va.example.org"
    assert store.attempt("  DR.WHO@va.EXAMPLE.org ").ok


def test_unknown_email_and_wrong_password_fail_with_one_message(store: Store) -> None:
    user = store.create_user()
    unknown = _message(store.attempt("nobody@va.example.org"))
    wrong = _message(store.attempt(user.email, WRONG))
    assert (
        unknown
        == wrong
        == (
            "invalid e-mail or password (hint: check the e-mail address and password; "
            "repeated failures lock the account for a while)"
        )
    )


def test_sixth_failed_login_locks_account_even_with_the_right_password(store: Store) -> None:
    user = store.create_user()
    for _ in range(5):
        assert not store.attempt(user.email, WRONG).ok
    assert store.events("account_locked", user_id=user.user_id) == 1
    assert not store.attempt(user.email, PASSWORD).ok
    assert store.active_sessions(user.user_id) == 0


@pytest.mark.parametrize(("offset_s", "opens"), [(-1, False), (0, True), (1, True)])
def test_lock_holds_until_its_end(store: Store, offset_s: int, opens: bool) -> None:
    user = store.create_user()
    for _ in range(5):
        store.attempt(user.email, WRONG)
    store.now += store.config.lockout_duration + timedelta(seconds=offset_s)
    assert store.attempt(user.email, PASSWORD).ok is opens


def test_expired_lock_is_lifted_at_the_next_attempt(store: Store) -> None:
    user = store.create_user()
    for _ in range(5):
        store.attempt(user.email, WRONG)
    store.tick(minutes=15, seconds=1)
    assert not store.attempt(user.email, WRONG).ok
    assert store.events("account_unlocked", user_id=user.user_id) == 1
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 1


def test_success_resets_the_failure_count(store: Store) -> None:
    user = store.create_user()
    for _ in range(4):
        store.attempt(user.email, WRONG)
    assert store.attempt(user.email).ok
    for _ in range(4):
        store.attempt(user.email, WRONG)
    assert store.attempt(user.email).ok


def test_administrator_unlock_opens_a_locked_account(store: Store) -> None:
    user = store.create_user()
    for _ in range(5):
        store.attempt(user.email, WRONG)
    with unit_of_work(store.app) as session:
        unlocked = users.unlock_user(session, user_id=user.user_id, now=store.now, actor="t")
    assert not unlocked.is_locked
    assert unlocked.failed_login_attempts == 0
    assert store.attempt(user.email).ok
    assert store.events("account_unlocked", user_id=user.user_id) == 1


def test_administrator_lock_holds_until_unlocked(store: Store) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        users.lock_user(session, user_id=user.user_id, now=store.now)
    store.tick(days=365)
    assert not store.attempt(user.email).ok


def test_disabled_user_cannot_log_in(store: Store) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        users.disable_user(session, user_id=user.user_id, now=store.now)
    assert not store.attempt(user.email).ok
    assert store.scalar("SELECT failure_reason FROM auth.audit_logs ORDER BY chain_seq DESC") == (
        "disabled"
    )


class CountingHasher(PasswordHasher):
    """Counts checks of real hashes, and makes every password check cost ``delay`` seconds
    (a stand-in for production argon2id) so that a lock held while checking shows.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(CHEAP, allow_weak=True, legacy_bcrypt_cost=LEGACY_COST)
        self.real = 0
        self.delay = delay
        self._lock = threading.Lock()

    def verify(self, stored_hash: str, password: str) -> Verification:
        if stored_hash != self._dummy_hash:
            with self._lock:
                self.real += 1
        time.sleep(self.delay)
        return super().verify(stored_hash, password)

    def check(self, stored_hash: str | None, password: object) -> Verification:
        if stored_hash is None or not isinstance(password, str):
            time.sleep(self.delay)  # no call of verify() follows
        return super().check(stored_hash, password)


def _concurrently(count: int, action: Callable[[], LoginAttempt]) -> list[LoginAttempt]:
    barrier = threading.Barrier(count)

    def run() -> LoginAttempt:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


@pytest.fixture
def strict_store(db_target: Target, role_plan: RolePlan) -> Iterator[Store]:
    """A store whose connections cancel any statement after 5 s."""
    options = {"options": "-c statement_timeout=5000"}
    with open_store(
        db_target, role_plan, pool_size=60, max_overflow=0, connect_args=options
    ) as opened:
        yield opened


def test_fifty_concurrent_wrong_passwords_are_all_counted(strict_store: Store) -> None:
    store = strict_store
    user = store.create_user()
    # 1 s per check: 50 checks queued behind one row lock would need 50 s.
    store.hasher = hasher = CountingHasher(delay=1.0)
    attempts = _concurrently(50, lambda: store.attempt(user.email, WRONG))
    report(f"S9: {hasher.real} real verifications for 50 concurrent wrong passwords")
    assert not any(a.ok for a in attempts)
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 50
    assert hasher.real <= 5
    assert store.events("login_failed", user_id=user.user_id) == 50
    assert store.events("account_locked", user_id=user.user_id) == 1
    right = _concurrently(50, lambda: store.attempt(user.email, PASSWORD))
    assert not any(a.ok for a in right)
    assert hasher.real <= 5
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0
    assert store.events("login_failed", user_id=user.user_id) == 100


def test_concurrent_right_passwords_all_log_in_without_a_lock_held_while_hashing(
    strict_store: Store,
) -> None:
    store = strict_store
    user = store.create_user()
    store.hasher = CountingHasher(delay=1.0)
    config = replace(store.config, lockout_threshold=100)
    attempts = _concurrently(20, lambda: store.attempt(user.email, PASSWORD, config=config))
    assert all(a.ok for a in attempts)
    assert store.active_sessions(user.user_id) == 20
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 0
    assert store.events("login_success", user_id=user.user_id) == 20


class WorkSpy(PasswordHasher):
    """Records every argon2 verification and bcrypt computation with its cost."""

    def __init__(self) -> None:
        super().__init__(CHEAP, allow_weak=True, legacy_bcrypt_cost=LEGACY_COST)
        self.work: Counter[tuple[str, object]] = Counter()

    def _argon2_check(self, stored_hash: str, secret: str) -> bool:
        self.work["argon2id", HashParams.from_hash(stored_hash)] += 1
        return super()._argon2_check(stored_hash, secret)

    def _bcrypt_compute(self, secret: bytes, setting: bytes) -> bytes:
        self.work["bcrypt", int(setting[4:6])] += 1
        return super()._bcrypt_compute(secret, setting)


def _set_hash(store: Store, user_id: object, stored: str) -> None:
    with store.admin.begin() as conn:
        conn.execute(
            text("UPDATE auth.users SET password_hash = :h WHERE user_id = :u"),
            {"h": stored, "u": user_id},
        )


def _legacy(store: Store, user_id: object, *, wrap: bool) -> None:
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(LEGACY_COST)).decode()
    _set_hash(store, user_id, store.hasher.wrap_legacy(stored) if wrap else stored)


def _lock(store: Store, user_id: object) -> None:
    with unit_of_work(store.app) as session:
        users.lock_user(session, user_id=user_id, now=store.now)  # type: ignore[arg-type]


def _disable(store: Store, user_id: object) -> None:
    with unit_of_work(store.app) as session:
        users.disable_user(session, user_id=user_id, now=store.now)  # type: ignore[arg-type]


FAILING_PATHS: dict[str, tuple[Callable[[Store, object], None], str, object]] = {
    "unknown_email": (lambda s, u: None, "nobody@va.example.org", WRONG),
    "locked": (_lock, "", PASSWORD),
    "disabled": (_disable, "", PASSWORD),
    "wrong_password": (lambda s, u: None, "", WRONG),
    "wrong_password_wrapped_legacy": (lambda s, u: _legacy(s, u, wrap=True), "", WRONG),
    "wrong_password_bare_legacy": (lambda s, u: _legacy(s, u, wrap=False), "", WRONG),
    "invalid_input": (lambda s, u: None, "not-an-address", WRONG),
    "password_not_text": (lambda s, u: None, "", None),
}


@pytest.mark.parametrize("path", list(FAILING_PATHS))
def test_every_failing_path_spends_one_check_of_the_same_cost(store: Store, path: str) -> None:
    store.hasher = spy = WorkSpy()
    user = store.create_user()
    prepare, email, password = FAILING_PATHS[path]
    prepare(store, user.user_id)
    spy.work.clear()
    assert not store.attempt(email or user.email, password).ok  # type: ignore[arg-type]
    assert spy.work == Counter({("argon2id", CHEAP): 1, ("bcrypt", LEGACY_COST): 1})


def test_single_session_setting_ends_the_other_sessions(store: Store) -> None:
    user = store.create_user()
    config = replace(store.config, single_session=True)
    first = store.attempt(user.email, config=config).unwrap()
    second = store.attempt(user.email, config=config).unwrap()
    assert store.active_sessions(user.user_id) == 1
    assert first.session_id != second.session_id
    assert store.events("session_revoked", user_id=user.user_id) == 1


BAD_INPUT = [
    pytest.param({"email": ""}, id="empty-email"),
    pytest.param({"email": "not-an-address"}, id="no-at"),
    pytest.param({"email": "a@b"}, id="no-domain-dot"),
    pytest.param({"email": "x" * 300 + "@va.example.org"}, id="long-email"),
    pytest.param({"email": "clinician1@va.example.org\x00"}, id="nul-email"),
    pytest.param({"email": "clini\ncian1@va.example.org"}, id="newline-email"),
    pytest.param({"ip": "999.1.1.1"}, id="bad-ip"),
    pytest.param({"ip": "10.0.0.1\x00"}, id="nul-ip"),
    pytest.param({"user_agent": "Mozilla\x00/5.0"}, id="nul-user-agent"),
    pytest.param({"user_agent": "x" * 5000}, id="long-user-agent"),
]


@pytest.mark.parametrize("bad", BAD_INPUT)
def test_malformed_login_input_fails_generically_and_changes_no_user(
    store: Store, bad: dict[str, str]
) -> None:
    user = store.create_user()
    fields = {"email": user.email, "ip": "10.0.0.1", "user_agent": "pytest", **bad}
    attempt = store.attempt(
        fields["email"], PASSWORD, ip=fields["ip"], user_agent=fields["user_agent"]
    )
    assert _message(attempt).startswith("invalid e-mail or password")
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 0
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0
    assert store.scalar("SELECT failure_reason FROM auth.audit_logs ORDER BY chain_seq DESC") == (
        "invalid_input"
    )


@pytest.mark.parametrize(
    "password",
    ["", "x" * 1_000_000, PASSWORD + "\x00", PASSWORD[:-1]],
    ids=["empty", "1MB", "nul", "short"],
)
def test_wrong_or_malformed_password_is_a_counted_failure(store: Store, password: str) -> None:
    user = store.create_user()
    assert _message(store.attempt(user.email, password)).startswith("invalid e-mail or password")
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 1
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0


NOT_TEXT = [
    pytest.param({"password": None}, id="password-none"),
    pytest.param({"password": PASSWORD.encode()}, id="password-bytes"),
    pytest.param({"password": 12345}, id="password-int"),
    pytest.param({"email": None}, id="email-none"),
    pytest.param({"email": b"clinician1@va.example.org"}, id="email-bytes"),
]


@pytest.mark.parametrize("bad", NOT_TEXT)
def test_email_or_password_that_is_not_text_is_an_audited_failure(
    store: Store, bad: dict[str, object]
) -> None:
    user = store.create_user()
    fields: dict[str, object] = {"email": user.email, "password": PASSWORD, **bad}
    attempt = store.attempt(fields["email"], fields["password"])  # type: ignore[arg-type]
    assert _message(attempt).startswith("invalid e-mail or password")
    assert store.scalar("SELECT failure_reason FROM auth.audit_logs ORDER BY chain_seq DESC") == (
        "invalid_input"
    )
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 0
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0


def test_a_function_shadowing_lower_cannot_redirect_a_login(store: Store) -> None:
    alice = store.create_user("alice@va.example.org")
    bob = store.create_user("bob@va.example.org", password=WRONG + " bob")
    with store.admin.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION public.lower(value varchar) RETURNS text LANGUAGE sql "
                "IMMUTABLE AS $$ SELECT CASE WHEN value = 'bob@va.example.org' "
                "THEN 'alice@va.example.org' ELSE 'nobody' END $$"
            )
        )
    assert not store.attempt(alice.email, WRONG + " bob").ok  # Alice's address, Bob's password
    assert store.active_sessions(bob.user_id) == 0
    assert (
        store.scalar("SELECT failed_login_attempts FROM auth.users WHERE email = :e", e=bob.email)
        == 0
    )
    assert store.attempt(alice.email).unwrap().user.user_id == alice.user_id
    with unit_of_work(store.app) as session:
        assert users.find_user(session, email=alice.email).user_id == alice.user_id


def test_more_attempts_in_flight_than_the_threshold_lock_the_account(strict_store: Store) -> None:
    store = strict_store
    user = store.create_user()
    store.hasher = hasher = CountingHasher(delay=1.0)
    attempts = _concurrently(20, lambda: store.attempt(user.email, PASSWORD))
    assert sum(a.ok for a in attempts) <= 5
    assert hasher.real <= 5
    assert store.events("account_locked", user_id=user.user_id) == 1
    assert store.events("login_failed", user_id=user.user_id) >= 15


def test_count_left_at_the_threshold_without_a_lock_ends_in_a_lock_that_expires(
    store: Store,
) -> None:
    user = store.create_user()
    with store.admin.begin() as conn:  # as a crash between reservation and outcome leaves it
        conn.execute(text("UPDATE auth.users SET failed_login_attempts = 5"))
    assert not store.attempt(user.email).ok
    assert store.events("account_locked", user_id=user.user_id) == 1
    store.tick(minutes=15, seconds=1)
    assert store.attempt(user.email).ok
