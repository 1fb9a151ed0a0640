"""Login: one generic failure, race-free lockout, rehash on success, a new session each time.

:func:`authenticate` locks the user's row (``SELECT ... FOR UPDATE``), so the logins of one
user run one after the other and the failure count cannot be lost or skipped (S9). An
unknown e-mail, a wrong password, a locked and a disabled account all end in the same
result and the same message, after the same work: one argon2 verification, against the
dummy hash when the real one must not be checked (S6). A locked account's hash is never
checked, so guessing during a lock learns nothing (S8).

A failed login must be recorded (failure count, lock, audit rows) even though it fails,
so :func:`authenticate` returns a :class:`LoginAttempt` instead of raising: the caller
commits, then calls :meth:`LoginAttempt.unwrap`, which raises
:class:`AuthenticationFailed`. :func:`login` does both for callers holding an engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.auth import audit, sessions
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.config import AuthConfig
from medz1.auth.errors import AuthenticationFailed, InvalidInputError
from medz1.auth.inputs import clean_ip, clean_user_agent, normalize_email, require_utc
from medz1.auth.passwords import PasswordHasher
from medz1.auth.records import USER_COLUMNS, UserRecord
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the new session's token (give it to the client once), its
    public id, its end and the user."""

    token: str = field(repr=False)
    session_id: uuid.UUID
    expires_at: datetime
    user: UserRecord


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of :func:`authenticate`; the reason of a failure stays in the audit row."""

    result: LoginResult | None

    @property
    def ok(self) -> bool:
        """True when the login succeeded."""
        return self.result is not None

    def unwrap(self) -> LoginResult:
        """The result of a successful login.

        Raises:
            AuthenticationFailed: the login failed ("invalid e-mail or password").
        """
        if self.result is None:
            raise AuthenticationFailed
        return self.result


_FAILED = LoginAttempt(None)


@dataclass(frozen=True)
class _Client:
    email: str | None
    ip: str | None
    user_agent: str | None
    valid: bool


def _client(email: object, ip: object, user_agent: object) -> _Client:
    """Check the inputs; keep what is valid for the audit row, never raise."""
    values: list[str | None] = []
    valid = True
    for check, value in ((normalize_email, email), (clean_ip, ip), (clean_user_agent, user_agent)):
        try:
            values.append(check(value))
        except InvalidInputError:
            values.append(None)
            valid = False
    return _Client(values[0], values[1], values[2], valid)


def _fail(
    session: Session,
    client: _Client,
    reason: str,
    now: datetime,
    *,
    user_id: uuid.UUID | None = None,
    before: tuple[Event, ...] = (),
    after: tuple[Event, ...] = (),
) -> LoginAttempt:
    failed = Event(
        AuditEvent.LOGIN_FAILED,
        user_id=user_id,
        email=client.email,
        ip_address=client.ip,
        user_agent=client.user_agent,
        success=False,
        failure_reason=reason,
    )
    audit.record(session, [*before, failed, *after], now=now)
    return _FAILED


_SELECT_FOR_UPDATE = text(
    f"SELECT {', '.join(USER_COLUMNS)}, password_hash FROM auth.users "
    "WHERE lower(email) = :email FOR UPDATE"
)


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    hasher: PasswordHasher,
    config: AuthConfig,
) -> LoginAttempt:
    """Log a user in, or record why not; never commits.

    On success: the failure count is reset, a legacy or outdated hash is replaced
    (``password_rehashed``, S5), a new session is opened (its token is new, S13), the
    user's other sessions end if ``config.single_session``, and ``login_success`` is
    written. On failure: ``login_failed`` with the real reason (``unknown_email``,
    ``wrong_password``, ``locked``, ``disabled``, ``invalid_input``), and for a known,
    enabled account one more failure; the failure that reaches the threshold locks the
    account for ``config.lockout_duration`` (``account_locked``). A lock that has ended
    is lifted at the next attempt (``account_unlocked``).

    Malformed input (an e-mail that is no address, an IP that is none, control
    characters) fails the same way, after the same work.

    Returns:
        The attempt; commit, then call ``unwrap()``.
    """
    at = require_utc(now)
    client = _client(email, ip, user_agent)
    if not client.valid or client.email is None:
        hasher.dummy_verify(password)
        return _fail(session, client, "invalid_input", at)
    row = session.execute(_SELECT_FOR_UPDATE, {"email": client.email}).mappings().first()
    if row is None:
        hasher.dummy_verify(password)
        return _fail(session, client, "unknown_email", at)
    user = UserRecord.from_row(row)
    events: list[Event] = []
    failures = user.failed_login_attempts
    if user.is_locked and not user.locked_at(at):
        failures = 0
        session.execute(
            text(
                "UPDATE auth.users SET is_locked = false, locked_until = NULL, "
                "failed_login_attempts = 0, updated_at = :now WHERE user_id = :user_id"
            ),
            {"now": at, "user_id": user.user_id},
        )
        events.append(
            Event(AuditEvent.ACCOUNT_UNLOCKED, user_id=user.user_id, details={"by": "expiry"})
        )
    locked = user.locked_at(at)
    if not user.is_active or locked:
        hasher.dummy_verify(password)
        verification = None
    else:
        verification = hasher.verify(str(row["password_hash"]), password)
    if verification is None or not verification.ok:
        reason = "disabled" if not user.is_active else "locked" if locked else "wrong_password"
        lock_events = _count_failure(session, user, failures, locked, at, config)
        return _fail(
            session,
            client,
            reason,
            at,
            user_id=user.user_id,
            before=tuple(events),
            after=tuple(lock_events),
        )
    new_hash = hasher.hash(password) if verification.needs_rehash else None
    return LoginAttempt(
        _succeed(session, user, client, new_hash, verification.scheme, events, at, config)
    )


def _count_failure(
    session: Session,
    user: UserRecord,
    failures: int,
    locked: bool,
    at: datetime,
    config: AuthConfig,
) -> list[Event]:
    """Add one failure to an enabled account; lock it when the count reaches the limit."""
    if not user.is_active:
        return []
    count = failures + 1
    lock_now = not locked and count >= config.lockout_threshold
    until = at + config.lockout_duration if lock_now else None
    session.execute(
        text(
            "UPDATE auth.users SET failed_login_attempts = :count, "
            "is_locked = is_locked OR :lock, "
            "locked_until = CASE WHEN :lock THEN :until ELSE locked_until END, "
            "updated_at = :now WHERE user_id = :user_id"
        ),
        {"count": count, "lock": lock_now, "until": until, "now": at, "user_id": user.user_id},
    )
    if not lock_now:
        return []
    return [
        Event(
            AuditEvent.ACCOUNT_LOCKED,
            user_id=user.user_id,
            details={"by": "failed_logins", "failures": count, "until": str(until)},
        )
    ]


def _succeed(
    session: Session,
    user: UserRecord,
    client: _Client,
    new_hash: str | None,
    old_scheme: str,
    events: list[Event],
    at: datetime,
    config: AuthConfig,
) -> LoginResult:
    session.execute(
        text(
            "UPDATE auth.users SET failed_login_attempts = 0, last_login_at = :now, "
            "password_hash = coalesce(:hash, password_hash), updated_at = :now "
            "WHERE user_id = :user_id"
        ),
        {"now": at, "hash": new_hash, "user_id": user.user_id},
    )
    issued = sessions.create_session(
        session,
        user_id=user.user_id,
        ip=client.ip,
        user_agent=client.user_agent,
        now=at,
        config=config,
    )
    if config.single_session:
        events += sessions.end_user_sessions(
            session,
            user_id=user.user_id,
            reason="single_session",
            except_session_id=issued.session.session_id,
        )
    if new_hash is not None:
        events.append(
            Event(
                AuditEvent.PASSWORD_REHASHED,
                user_id=user.user_id,
                details={"from": old_scheme, "to": "argon2id"},
            )
        )
    events.append(
        Event(
            AuditEvent.LOGIN_SUCCESS,
            user_id=user.user_id,
            email=client.email,
            ip_address=client.ip,
            user_agent=client.user_agent,
            success=True,
            session_id=issued.session.session_id,
        )
    )
    audit.record(session, events, now=at)
    # A success means no lock holds: an ended one was lifted above.
    refreshed = UserRecord(
        **{
            **user.__dict__,
            "failed_login_attempts": 0,
            "last_login_at": at,
            "is_locked": False,
            "locked_until": None,
        }
    )
    return LoginResult(
        token=issued.token,
        session_id=issued.session.session_id,
        expires_at=issued.session.ends_at(),
        user=refreshed,
    )


def login(
    engine: Engine,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    hasher: PasswordHasher,
    config: AuthConfig,
) -> LoginResult:
    """:func:`authenticate` in its own transaction, committed whatever the outcome.

    Raises:
        AuthenticationFailed: the login failed (after the failure was committed).
        PrivilegeError: the audit row could not be written; nothing was committed (S17).
    """
    with translated(), unit_of_work(engine) as session:
        attempt = authenticate(
            session,
            email=email,
            password=password,
            ip=ip,
            user_agent=user_agent,
            now=now,
            hasher=hasher,
            config=config,
        )
    return attempt.unwrap()
