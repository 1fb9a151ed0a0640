"""Login: one generic failure, race-free lockout without a lock held while hashing.

An attempt runs in three steps (S9). :func:`reserve` counts it as failed with one atomic
``UPDATE ... RETURNING`` in a short transaction, and says whether the password may be
checked: only while the account is enabled, unlocked and the count, this attempt included,
is at most the threshold. The password is then checked outside any transaction or row
lock, so concurrent attempts on one account never queue behind a hash computation. A
second short transaction records the outcome with its audit rows: a success takes the
count back (compare-and-set on the checked hash) and opens a session; a failure whose
reserved count reached the threshold locks the account. At most ``lockout_threshold``
real checks run while an account is unlocked, however many attempts arrive at once; the
attempts beyond it are refused unchecked and lock the account as that many failures would
(so more than ``lockout_threshold`` attempts in flight at once on one account lock it, and
a count left at the threshold by a crash between the two transactions ends in a lock that
expires, never in a permanent refusal).

An unknown e-mail, a wrong password, a locked and a disabled account all end in the same
result and the same message, after the same work (``PasswordHasher.check``, S6). A locked
account's hash is never checked, so guessing during a lock learns nothing (S8).

A failed login must be recorded even though it fails, so :func:`attempt` returns a
:class:`LoginAttempt` instead of raising; :meth:`LoginAttempt.unwrap` raises
:class:`AuthenticationFailed`. :func:`login` does both, translating driver errors.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from medz1.auth import audit, sessions
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.config import AuthConfig
from medz1.auth.errors import AuthenticationFailed, InvalidInputError
from medz1.auth.inputs import clean_ip, clean_user_agent, normalize_email, require_utc
from medz1.auth.passwords import PasswordHasher, Verification
from medz1.auth.records import USER_COLUMNS, UserRecord
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the new session's token (give it to the client once), its
    public id, its end and the user.
    """

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
logger = logging.getLogger(__name__)


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


_USER = ", ".join(f"u.{column}" for column in USER_COLUMNS)
_HELD = "(u.is_locked IS TRUE AND (u.locked_until IS NULL OR u.locked_until > :now))"

# Reserve one attempt: count it as failed before the password is checked, lift a lock that
# has ended, and return the row as it is after. The row lock lasts for this statement's
# transaction only (milliseconds), never for a hash computation (S9). Built-ins are
# qualified with pg_catalog, so a function in another schema cannot take a lookup over.
_RESERVE = """
    WITH target AS (
        SELECT user_id,
               (is_locked IS TRUE AND locked_until IS NOT NULL AND locked_until <= :now)
                   AS ended
        FROM auth.users WHERE {where} FOR UPDATE
    )
    UPDATE auth.users AS u SET
        failed_login_attempts =
            CASE WHEN t.ended THEN 0 ELSE COALESCE(u.failed_login_attempts, 0) END
            + CASE WHEN u.is_active IS FALSE THEN 0 ELSE 1 END,
        is_locked = CASE WHEN t.ended THEN false ELSE u.is_locked END,
        locked_until = CASE WHEN t.ended THEN NULL ELSE u.locked_until END,
        updated_at = CASE WHEN t.ended OR u.is_active IS NOT FALSE THEN :now ELSE u.updated_at END
    FROM target t WHERE u.user_id = t.user_id
    RETURNING {user}, u.password_hash, t.ended
"""
_RESERVE_BY_EMAIL = text(_RESERVE.format(where="pg_catalog.lower(email) = :key", user=_USER))
_RESERVE_BY_ID = text(_RESERVE.format(where="user_id = :key", user=_USER))

_LOCK = text(
    f"""
    UPDATE auth.users AS u SET is_locked = true, locked_until = :until, updated_at = :now
    WHERE u.user_id = :user_id AND u.is_active IS NOT FALSE AND NOT {_HELD}
    RETURNING u.user_id
    """
)
_SUCCEED = text(
    f"""
    UPDATE auth.users AS u SET
        failed_login_attempts = CASE
            WHEN COALESCE(u.failed_login_attempts, 0) = :reserved THEN 0
            ELSE GREATEST(COALESCE(u.failed_login_attempts, 0) - 1, 0) END,
        last_login_at = CASE WHEN :login THEN :now ELSE u.last_login_at END,
        password_hash = COALESCE(:hash, u.password_hash), updated_at = :now
    WHERE u.user_id = :user_id AND CAST(u.password_hash AS pg_catalog.text) = :checked
      AND u.is_active IS NOT FALSE AND NOT {_HELD}
    RETURNING {_USER}
    """
)
_UNCOUNT = text(
    "UPDATE auth.users SET failed_login_attempts = GREATEST(failed_login_attempts - 1, 0) "
    "WHERE user_id = :user_id"
)


@dataclass(frozen=True)
class Reservation:
    """One attempt counted before its password is checked (see :func:`reserve`).

    Attributes:
        user: the user after the reservation (its count includes this attempt).
        stored_hash: the hash to check, or None when the attempt is refused unchecked.
        reason: why it is refused unchecked (``disabled``, ``locked``), or None.
        counted: whether the attempt was added to the failure count.
        events: audit events of changes the reservation made (a lock that ended).
    """

    user: UserRecord
    stored_hash: str | None = field(repr=False)
    reason: str | None
    counted: bool
    events: tuple[Event, ...] = ()


def reserve(
    session: Session,
    *,
    email: str | None = None,
    user_id: uuid.UUID | None = None,
    now: datetime,
    config: AuthConfig,
) -> Reservation | None:
    """Count one password attempt on a user, before checking it (S9); never commits.

    One ``UPDATE ... RETURNING`` adds the attempt to ``failed_login_attempts`` (an enabled
    account only) and lifts a lock that has ended (``account_unlocked``, count reset). The
    attempt may check the password only while the account is enabled, not locked and the
    count, this attempt included, is at most ``config.lockout_threshold``; so at most that
    many checks run while an account is unlocked, however many attempts arrive at once.
    Commit at once: the row stays locked until then.

    Args:
        session: the caller's session.
        email: the user's address, normalised; or
        user_id: the user's id.
        now: the clock (UTC).
        config: the lockout rules.

    Returns:
        The reservation, or None when no user matches.
    """
    statement, key = (
        (_RESERVE_BY_ID, user_id) if user_id is not None else (_RESERVE_BY_EMAIL, email)
    )
    row = session.execute(statement, {"key": key, "now": now}).mappings().first()
    if row is None:
        return None
    user = UserRecord.from_row(row)
    events: tuple[Event, ...] = ()
    if row["ended"]:
        events = (
            Event(
                AuditEvent.ACCOUNT_UNLOCKED,
                user_id=user.user_id,
                email=user.email,
                details={"by": "expiry"},
            ),
        )
        audit.record(session, events, now=now)
    reason = (
        "disabled"
        if not user.is_active
        else "locked"
        if user.locked_at(now) or user.failed_login_attempts > config.lockout_threshold
        else None
    )
    return Reservation(
        user=user,
        stored_hash=None if reason else str(row["password_hash"]),
        reason=reason,
        counted=user.is_active,
        events=events,
    )


def record_failure(
    session: Session, reservation: Reservation, *, now: datetime, config: AuthConfig
) -> list[Event]:
    """After a failed check: lock the account when its reserved count reached the threshold
    (``account_locked``, once however many attempts race); never commits.

    Returns:
        The lock's audit events, for the caller to record after its own.
    """
    user = reservation.user
    if not reservation.counted or user.failed_login_attempts < config.lockout_threshold:
        return []
    until = now + config.lockout_duration
    if (
        session.execute(_LOCK, {"user_id": user.user_id, "until": until, "now": now}).first()
        is None
    ):
        return []  # already locked (by a racing attempt or an administrator)
    return [
        Event(
            AuditEvent.ACCOUNT_LOCKED,
            user_id=user.user_id,
            email=user.email,
            details={
                "by": "failed_logins",
                "failures": user.failed_login_attempts,
                "until": str(until),
            },
        )
    ]


def record_success(
    session: Session,
    reservation: Reservation,
    *,
    new_hash: str | None,
    now: datetime,
    login: bool = True,
) -> UserRecord | None:
    """After a successful check: reset the failure count, store ``new_hash`` if given and,
    for a ``login``, stamp ``last_login_at``; never commits.

    The reset is a compare-and-set: when other attempts were counted after this one's
    reservation, only this attempt is taken off, so their failures still count.

    It is a compare-and-set: nothing changes, and None is returned, when the stored hash
    is no longer the one checked or the account was disabled or locked meanwhile.
    """
    row = (
        session.execute(
            _SUCCEED,
            {
                "user_id": reservation.user.user_id,
                "reserved": reservation.user.failed_login_attempts,
                "hash": new_hash,
                "checked": reservation.stored_hash,
                "now": now,
                "login": login,
            },
        )
        .mappings()
        .first()
    )
    return None if row is None else UserRecord.from_row(row)


def uncount(engine: Engine, reservation: Reservation | None) -> None:
    """Take back the count of an attempt whose outcome could not be recorded (S17).

    Best effort, in its own transaction: when the database refuses even this, the attempt
    stays counted, which only brings a lock nearer.
    """
    if reservation is None or not reservation.counted:
        return
    try:
        with unit_of_work(engine) as session:
            session.execute(_UNCOUNT, {"user_id": reservation.user.user_id})
    except SQLAlchemyError:
        logger.warning("the count of an unrecorded password attempt could not be taken back")


def attempt(
    engine: Engine,
    *,
    email: object,
    password: object,
    ip: object,
    user_agent: object,
    now: datetime,
    hasher: PasswordHasher,
    config: AuthConfig,
) -> LoginAttempt:
    """Log a user in, or record why not; commits its own short transactions.

    1. Reserve (:func:`reserve`): one atomic UPDATE counts the attempt as failed and says
       whether the password may be checked; committed at once.
    2. Check the password outside any transaction or row lock (``hasher.check``): every
       failure costs the same whatever its cause (S6).
    3. Record in a second short transaction: on success the count is taken back
       (compare-and-set), a legacy or outdated hash is replaced (``password_rehashed``,
       S5), a new session is opened (its token is new, S13), the user's other sessions end
       if ``config.single_session``, and ``login_success`` is written; on failure
       ``login_failed`` with the real reason (``unknown_email``, ``wrong_password``,
       ``locked``, ``disabled``, ``invalid_input``, ``concurrent_change``), and the attempt
       whose count reaches the threshold locks the account (``account_locked``, S8).

    Malformed input (an e-mail or password that is not text, an e-mail that is no address,
    an IP that is none, control characters) fails as ``invalid_input``, after the same
    work, without counting.

    Returns:
        The attempt; ``unwrap()`` gives the result or raises.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a step; the attempt's count is
            taken back when its audit row could not be written (S17).
    """
    at = require_utc(now)
    client = _client(email, ip, user_agent)
    if not client.valid or client.email is None or not isinstance(password, str):
        hasher.check(None, password)
        with unit_of_work(engine) as session:
            return _fail(session, client, "invalid_input", at)
    with unit_of_work(engine) as session:
        reservation = reserve(session, email=client.email, now=at, config=config)
    stored = reservation.stored_hash if reservation is not None else None
    verification = hasher.check(stored, password)
    new_hash = hasher.hash(password) if verification.ok and verification.needs_rehash else None
    try:
        with unit_of_work(engine) as session:
            if reservation is None:
                return _fail(session, client, "unknown_email", at)
            return _record(session, reservation, client, verification, new_hash, at, config)
    except BaseException:
        uncount(engine, reservation)
        raise


def _record(
    session: Session,
    reservation: Reservation,
    client: _Client,
    verification: Verification,
    new_hash: str | None,
    at: datetime,
    config: AuthConfig,
) -> LoginAttempt:
    user = reservation.user
    if verification.ok:
        updated = record_success(session, reservation, new_hash=new_hash, now=at)
        if updated is not None:
            return LoginAttempt(
                _succeed(session, updated, client, new_hash, verification.scheme, at, config)
            )
    reason = reservation.reason or ("concurrent_change" if verification.ok else "wrong_password")
    lock_events = record_failure(session, reservation, now=at, config=config)
    return _fail(session, client, reason, at, user_id=user.user_id, after=tuple(lock_events))


def _succeed(
    session: Session,
    user: UserRecord,
    client: _Client,
    new_hash: str | None,
    old_scheme: str,
    at: datetime,
    config: AuthConfig,
) -> LoginResult:
    issued = sessions.create_session(
        session,
        user_id=user.user_id,
        ip=client.ip,
        user_agent=client.user_agent,
        now=at,
        config=config,
    )
    events: list[Event] = []
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
                email=user.email,
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
    return LoginResult(
        token=issued.token,
        session_id=issued.session.session_id,
        expires_at=issued.session.ends_at(),
        user=user,
    )


def login(
    engine: Engine,
    *,
    email: object,
    password: object,
    ip: object,
    user_agent: object,
    now: datetime,
    hasher: PasswordHasher,
    config: AuthConfig,
) -> LoginResult:
    """:func:`attempt`, with driver errors translated; the outcome is committed either way.

    Raises:
        AuthenticationFailed: the login failed (after the failure was committed).
        PrivilegeError: the audit row could not be written; no session was opened (S17).
    """
    with translated():
        outcome = attempt(
            engine,
            email=email,
            password=password,
            ip=ip,
            user_agent=user_agent,
            now=now,
            hasher=hasher,
            config=config,
        )
    return outcome.unwrap()
