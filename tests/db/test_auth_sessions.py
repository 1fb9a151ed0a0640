"""Sessions: hashed tokens (S12), new tokens only (S13), timeouts in UTC across DST (S14),
ending sessions with one audit row each (S15), password change (S7).
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from medz1.auth import sessions, users
from medz1.auth.errors import AuthenticationFailed, SessionInvalid
from medz1.auth.sessions import SessionState
from medz1.db.engine import unit_of_work
from medz1.errors import UsageError
from tests.plugins.auth import PASSWORD, Store

pytestmark = pytest.mark.db

NEW_PASSWORD = "a brand new passphrase for spring"


def _state(store: Store, token: str) -> SessionState:
    with unit_of_work(store.app) as session:
        return sessions.validate(session, token=token, now=store.now, config=store.config).state


def _login(store: Store) -> tuple[str, str]:
    user = store.create_user()
    return user.email, store.attempt(user.email).unwrap().token


def test_valid_token_returns_user_and_session(store: Store) -> None:
    email, token = _login(store)
    with unit_of_work(store.app) as session:
        check = sessions.validate(session, token=token, now=store.now, config=store.config)
    user, record = check.require()
    assert user.email == email
    assert record.user_id == user.user_id


def test_replaying_every_stored_value_authenticates_nothing(store: Store) -> None:
    for _ in range(3):
        _login(store)
    with store.admin.connect() as conn:
        rows = conn.execute(text("SELECT session_id, token_hash FROM auth.sessions")).all()
    candidates = []
    for session_id, token_hash in rows:
        raw = bytes(token_hash)
        candidates += [
            str(session_id),
            session_id.hex,
            raw.hex(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.decode("latin-1"),
        ]
    accepted = [c for c in candidates if _state(store, c) is SessionState.VALID]
    assert len(candidates) == 15
    assert accepted == []


def test_every_login_issues_a_new_token(store: Store) -> None:
    user = store.create_user()
    tokens = {store.attempt(user.email).unwrap().token for _ in range(100)}
    assert len(tokens) == 100


def test_tokens_the_server_never_issued_are_refused(store: Store) -> None:
    _, token = _login(store)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    forged = [
        secrets.token_urlsafe(32),
        flipped,
        token.upper() if token.upper() != token else token.lower(),
        "",
        token + "x",
        token[:20] + "\x00" + token[21:],
        "x" * 1_000_000,
    ]
    assert [f for f in forged if _state(store, f) is SessionState.VALID] == []
    assert _state(store, token) is SessionState.VALID


@pytest.mark.parametrize(("offset_s", "valid"), [(-1, True), (1, False)])
def test_idle_timeout_edges(store: Store, offset_s: int, valid: bool) -> None:
    _, token = _login(store)
    store.now += store.config.session_idle + timedelta(seconds=offset_s)
    assert (_state(store, token) is SessionState.VALID) is valid


@pytest.mark.parametrize(("offset_s", "valid"), [(-1, True), (1, False)])
def test_absolute_timeout_edges_however_active(store: Store, offset_s: int, valid: bool) -> None:
    _, token = _login(store)
    login_at = store.now
    while store.now + timedelta(minutes=10) < login_at + store.config.session_absolute:
        store.tick(minutes=10)
        assert _state(store, token) is SessionState.VALID
    store.now = login_at + store.config.session_absolute + timedelta(seconds=offset_s)
    assert (_state(store, token) is SessionState.VALID) is valid


@pytest.fixture
def new_york() -> Iterator[None]:
    """The process runs with TZ set to a US zone, as a server in New York would."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


# Local 01:30 on the nights the clocks change in New York in 2026.
DST_NIGHTS = [
    pytest.param(datetime(2026, 3, 8, 1, 50, tzinfo=ZoneInfo("America/New_York")), id="spring"),
    pytest.param(datetime(2026, 11, 1, 1, 50, tzinfo=ZoneInfo("America/New_York")), id="fall"),
]


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize("login_at", DST_NIGHTS)
@pytest.mark.parametrize(("offset_s", "valid"), [(-1, True), (1, False)])
def test_idle_timeout_edges_across_a_dst_change(
    store: Store, login_at: datetime, offset_s: int, valid: bool
) -> None:
    store.now = login_at
    _, token = _login(store)
    # 15 real minutes later, whatever the wall clock in New York says (arithmetic in UTC:
    # adding to a New York wall time would land an hour off on the fall night).
    later = login_at.astimezone(UTC) + store.config.session_idle + timedelta(seconds=offset_s)
    store.now = later.astimezone(ZoneInfo("America/New_York"))
    assert time.localtime().tm_zone in ("EST", "EDT")
    assert (_state(store, token) is SessionState.VALID) is valid


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize("login_at", DST_NIGHTS)
def test_absolute_timeout_is_eight_real_hours_across_a_dst_change(
    store: Store, login_at: datetime
) -> None:
    store.now = login_at
    _login(store)
    with store.admin.connect() as conn:
        conn.execute(text("SET TIME ZONE 'America/New_York'"))
        hours = conn.execute(
            text(
                "SELECT extract(epoch FROM absolute_expires_at - created_at) / 3600 FROM auth.sessions"
            )
        ).scalar()
    assert hours == 8


def test_activity_is_written_at_most_once_a_minute(store: Store) -> None:
    _, token = _login(store)
    login_at = store.now
    store.tick(seconds=30)
    _state(store, token)
    assert store.scalar("SELECT last_activity_at FROM auth.sessions") == login_at
    store.tick(seconds=31)
    _state(store, token)
    assert store.scalar("SELECT last_activity_at FROM auth.sessions") == store.now


def _ended_rows(store: Store, session_id: object) -> int:
    return int(
        store.scalar(
            "SELECT count(*) FROM auth.audit_logs WHERE session_id = :s AND event_type IN "
            "('logout', 'session_revoked', 'session_timeout')",
            s=session_id,
        )
    )


def test_logout_ends_the_session_with_one_audit_row(store: Store) -> None:
    user = store.create_user()
    result = store.attempt(user.email).unwrap()
    for _ in range(2):
        with unit_of_work(store.app) as session:
            sessions.logout(session, token=result.token, now=store.now)
    assert _state(store, result.token) is SessionState.ENDED
    assert _ended_rows(store, result.session_id) == 1


def test_logout_everywhere_ends_every_session_of_the_user(store: Store) -> None:
    user = store.create_user()
    results = [store.attempt(user.email).unwrap() for _ in range(3)]
    with unit_of_work(store.app) as session:
        ended = sessions.logout_everywhere(session, token=results[0].token, now=store.now)
    assert len(ended) == 3
    assert [_state(store, r.token) for r in results] == [SessionState.ENDED] * 3
    assert [_ended_rows(store, r.session_id) for r in results] == [1, 1, 1]


def test_administrator_revoke_ends_one_session(store: Store) -> None:
    user = store.create_user()
    keep, drop = (store.attempt(user.email).unwrap() for _ in range(2))
    with unit_of_work(store.app) as session:
        sessions.revoke_session(session, session_id=drop.session_id, now=store.now, actor="admin")
    assert _state(store, drop.token) is SessionState.ENDED
    assert _state(store, keep.token) is SessionState.VALID
    assert _ended_rows(store, drop.session_id) == 1


def test_timed_out_session_leaves_one_row_however_often_it_is_tried(store: Store) -> None:
    user = store.create_user()
    result = store.attempt(user.email).unwrap()
    store.tick(hours=1)
    assert [_state(store, result.token) for _ in range(3)] == [
        SessionState.IDLE_TIMEOUT,
        SessionState.ENDED,
        SessionState.ENDED,
    ]
    with unit_of_work(store.app) as session:
        sessions.purge_expired(session, now=store.now)
    assert _ended_rows(store, result.session_id) == 1


def test_purge_deletes_expired_and_ended_sessions_with_one_row_each(store: Store) -> None:
    user = store.create_user()
    unnoticed, logged_out = (store.attempt(user.email).unwrap() for _ in range(2))
    with unit_of_work(store.app) as session:
        sessions.logout(session, token=logged_out.token, now=store.now)
    store.tick(minutes=20)
    fresh = store.attempt(user.email).unwrap()
    with unit_of_work(store.app) as session:
        report = sessions.purge_expired(session, now=store.now)
    assert (report.timed_out, report.deleted) == (1, 2)
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 1
    assert _ended_rows(store, unnoticed.session_id) == 1
    assert _ended_rows(store, logged_out.session_id) == 1
    assert _state(store, fresh.token) is SessionState.VALID


def test_locked_users_sessions_are_refused_but_not_ended(store: Store) -> None:
    user = store.create_user()
    result = store.attempt(user.email).unwrap()
    for _ in range(5):
        store.attempt(user.email, "somebody guessing wrong")
    assert _state(store, result.token) is SessionState.USER_LOCKED
    with unit_of_work(store.app) as session:
        users.unlock_user(session, user_id=user.user_id, now=store.now)
    assert _state(store, result.token) is SessionState.VALID


def test_logout_of_an_unknown_token_is_refused(store: Store) -> None:
    with pytest.raises(SessionInvalid), unit_of_work(store.app) as session:
        sessions.logout(session, token=secrets.token_urlsafe(32), now=store.now)


def _change(store: Store, user_id: object, current: object) -> sessions.IssuedSession:
    with unit_of_work(store.app) as session:
        return users.change_password(
            session,
            user_id=user_id,  # type: ignore[arg-type]
            current_password=current,
            new_password=NEW_PASSWORD,
            hasher=store.hasher,
            now=store.now,
            config=store.config,
        )


def test_password_change_requires_the_current_password(store: Store) -> None:
    user = store.create_user()
    result = store.attempt(user.email).unwrap()
    with pytest.raises(AuthenticationFailed):
        _change(store, user.user_id, "not my current password")
    assert _state(store, result.token) is SessionState.VALID
    assert store.attempt(user.email, PASSWORD).ok


def test_password_change_ends_every_old_session_and_rotates(store: Store) -> None:
    user = store.create_user()
    old = [store.attempt(user.email).unwrap() for _ in range(3)]
    issued = _change(store, user.user_id, PASSWORD)
    assert [_state(store, r.token) for r in old] == [SessionState.ENDED] * 3
    assert _state(store, issued.token) is SessionState.VALID
    assert issued.token not in {r.token for r in old}
    assert not store.attempt(user.email, PASSWORD).ok
    assert store.attempt(user.email, NEW_PASSWORD).ok
    assert store.events("password_changed", user_id=user.user_id) == 1


def test_naive_clock_is_refused(store: Store) -> None:
    _, token = _login(store)
    with pytest.raises(UsageError, match="naive"), unit_of_work(store.app) as session:
        sessions.validate(session, token=token, now=datetime(2026, 1, 1), config=store.config)


# -- S37: a password change checks the current password like a login ------------------------


def _locked(store: Store) -> bool:
    return bool(store.scalar("SELECT is_locked FROM auth.users"))


def test_twenty_wrong_current_passwords_are_twenty_audited_failures_locked_at_five(
    store: Store,
) -> None:
    user = store.create_user()
    locked_after = []
    for _ in range(20):
        with pytest.raises(AuthenticationFailed):
            _change(store, user.user_id, "not my current password")
        locked_after.append(_locked(store))
    assert store.events("login_failed", user_id=user.user_id) == 20
    assert locked_after == [False] * 4 + [True] * 16
    assert store.events("account_locked", user_id=user.user_id) == 1
    assert store.scalar("SELECT failed_login_attempts FROM auth.users") == 20
    assert not store.attempt(user.email).ok  # the lock holds for logins too


def test_wrong_current_passwords_and_logins_share_one_count(store: Store) -> None:
    user = store.create_user()
    for _ in range(3):
        store.attempt(user.email, "a wrong login password")
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            _change(store, user.user_id, "not my current password")
    assert _locked(store)


@pytest.mark.parametrize(
    "action", [users.lock_user, users.disable_user], ids=["locked", "disabled"]
)
def test_password_change_is_refused_while_locked_or_disabled(store: Store, action: object) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        action(session, user_id=user.user_id, now=store.now)  # type: ignore[operator]
    with pytest.raises(AuthenticationFailed):
        _change(store, user.user_id, PASSWORD)
    reason = store.scalar("SELECT failure_reason FROM auth.audit_logs ORDER BY chain_seq DESC")
    assert reason == ("locked" if action is users.lock_user else "disabled")
    assert store.events("password_changed", user_id=user.user_id) == 0


@pytest.mark.parametrize("current", [None, PASSWORD.encode()], ids=["none", "bytes"])
def test_current_password_that_is_not_text_is_an_audited_failure(
    store: Store, current: object
) -> None:
    user = store.create_user()
    with pytest.raises(AuthenticationFailed):
        _change(store, user.user_id, current)
    reason = store.scalar("SELECT failure_reason FROM auth.audit_logs ORDER BY chain_seq DESC")
    assert reason == "invalid_input"
    assert store.attempt(user.email).ok  # the password is unchanged
