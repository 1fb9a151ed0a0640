"""Login and lockout: one generic failure (S6), lockout edges (S8), race-free counting (S9),
bad input."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from medz1.auth import users
from medz1.auth.errors import AuthenticationFailed
from medz1.auth.login import LoginAttempt
from medz1.auth.passwords import HashParams, PasswordHasher, Verification
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.provision.credentials import Policy
from tests.db.test_auth_support import CHEAP, PASSWORD, Store, open_store, report

pytestmark = pytest.mark.db

WRONG = "not the password at all, sorry"


@pytest.fixture
def store(db_target: Target, policy: Policy) -> Iterator[Store]:
    with open_store(db_target, policy, pool_size=60, max_overflow=0) as opened:
        yield opened


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


class VerificationLog(PasswordHasher):
    """Records the argon2 parameters of every hash a login verifies against."""

    def __init__(self) -> None:
        super().__init__(CHEAP, allow_weak=True)
        self.verified: list[HashParams] = []

    def verify(self, stored_hash: str, password: str) -> Verification:
        self.verified.append(HashParams.from_hash(stored_hash))
        return super().verify(stored_hash, password)


@pytest.mark.parametrize("who", ["unknown", "disabled"])
def test_failed_login_of_no_usable_account_does_the_work_of_a_wrong_password(
    store: Store, who: str
) -> None:
    # S6 without a stopwatch: the same number of argon2 verifications, with the same
    # parameters, so the time cannot tell the causes apart.
    user = store.create_user()
    store.hasher = log = VerificationLog()
    assert not store.attempt(user.email, WRONG).ok
    wrong = list(log.verified)
    email = "nobody@va.example.org"
    if who == "disabled":
        other = store.create_user()
        with unit_of_work(store.app) as session:
            users.disable_user(session, user_id=other.user_id, now=store.now)
        email = other.email
    log.verified.clear()
    assert not store.attempt(email, WRONG).ok
    assert log.verified == wrong == [CHEAP]


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
    """Counts verifications of real hashes (not of the dummy hash)."""

    def __init__(self) -> None:
        super().__init__(CHEAP, allow_weak=True)
        self.real = 0
        self._lock = threading.Lock()

    def verify(self, stored_hash: str, password: str) -> Verification:
        if stored_hash != self._dummy_hash:
            with self._lock:
                self.real += 1
        return super().verify(stored_hash, password)


def _concurrently(count: int, action: Callable[[], LoginAttempt]) -> list[LoginAttempt]:
    barrier = threading.Barrier(count)

    def run() -> LoginAttempt:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


def test_fifty_concurrent_wrong_passwords_are_all_counted(store: Store) -> None:
    user = store.create_user()
    store.hasher = hasher = CountingHasher()
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
