"""Login sessions: opaque tokens, only their SHA-256 stored, idle and absolute timeouts.

A token is 32 bytes from :mod:`secrets` (256 bits, URL-safe base64, S11); the database
holds only ``sha256(token)`` (S12), so a leaked ``auth.sessions`` table opens no session.
``session_id`` is the public handle of a session (listing, revoking), never its secret.

A session ends at logout, logout everywhere, revocation by an administrator, when its user
is disabled, deleted or changes password, or when it times out: after ``session_idle``
without use or ``session_absolute`` after login (S14). Every ended session leaves exactly
one audit row (``logout``, ``session_revoked`` or ``session_timeout``; S15): sessions are
ended by ``UPDATE ... WHERE is_active RETURNING``, so two requests ending the same session
at once write one row, not two. All times are UTC.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.auth import audit
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.config import AuthConfig
from medz1.auth.errors import SessionInvalid
from medz1.auth.inputs import require_utc
from medz1.auth.records import (
    SESSION_COLUMNS,
    USER_COLUMNS,
    SessionRecord,
    UserRecord,
    select_list,
)
from medz1.errors import NotFoundError

TOKEN_BYTES = 32
"""Random bytes in a token: 256 bits, twice the 128 that S11 asks for."""
_TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A new session token: 32 random bytes from :mod:`secrets`, URL-safe base64 (43 chars)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """The SHA-256 of a token, the only form the database stores."""
    return hashlib.sha256(token.encode("ascii")).digest()


def well_formed(token: object) -> bool:
    """True when ``token`` has the shape of a token medz1 issues (43 URL-safe characters)."""
    return isinstance(token, str) and _TOKEN_FORMAT.fullmatch(token) is not None


@dataclass(frozen=True)
class IssuedSession:
    """A new session and its token; the token is shown to the client once, never stored."""

    token: str = field(repr=False)
    session: SessionRecord


class SessionState(enum.StrEnum):
    """What a validation found."""

    VALID = "valid"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    ENDED = "ended"
    IDLE_TIMEOUT = "idle_timeout"
    ABSOLUTE_TIMEOUT = "absolute_timeout"
    USER_DISABLED = "user_disabled"
    USER_LOCKED = "user_locked"


@dataclass(frozen=True)
class SessionCheck:
    """The outcome of :func:`validate` or :func:`peek`."""

    state: SessionState
    session: SessionRecord | None = None
    user: UserRecord | None = None

    @property
    def valid(self) -> bool:
        """True when the session may be used."""
        return self.state is SessionState.VALID

    def require(self) -> tuple[UserRecord, SessionRecord]:
        """The user and session of a valid check.

        Raises:
            SessionInvalid: the session may not be used (the reason is not told).
        """
        if self.state is not SessionState.VALID or self.user is None or self.session is None:
            raise SessionInvalid
        return self.user, self.session


@dataclass(frozen=True)
class PurgeReport:
    """What :func:`purge_expired` did."""

    timed_out: int
    deleted: int


# -- creating -------------------------------------------------------------------------------

_INSERT = text(
    f"""
    INSERT INTO auth.sessions (user_id, token_hash, created_at, last_activity_at, expires_at,
                               absolute_expires_at, is_active, ip_address, user_agent)
    VALUES (:user_id, :token_hash, :now, :now, :expires_at, :absolute, true, :ip, :ua)
    RETURNING {", ".join(SESSION_COLUMNS)}
    """
)


def create_session(
    session: Session,
    *,
    user_id: uuid.UUID,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    config: AuthConfig,
) -> IssuedSession:
    """Open a session for ``user_id`` with a new token (no audit row: the login writes it).

    ``ip`` and ``user_agent`` must already be checked (:mod:`medz1.auth.inputs`).
    """
    at = require_utc(now)
    token = new_token()
    absolute = at + config.session_absolute
    row = (
        session.execute(
            _INSERT,
            {
                "user_id": user_id,
                "token_hash": token_digest(token),
                "now": at,
                "expires_at": min(at + config.session_idle, absolute),
                "absolute": absolute,
                "ip": ip,
                "ua": user_agent,
            },
        )
        .mappings()
        .one()
    )
    return IssuedSession(token=token, session=SessionRecord.from_row(row))


# -- validating -----------------------------------------------------------------------------

_LOOKUP = text(
    f"""
    SELECT {select_list(SESSION_COLUMNS, "s", "s_")}, {select_list(USER_COLUMNS, "u", "u_")}
    FROM auth.sessions s JOIN auth.users u ON u.user_id = s.user_id
    WHERE s.token_hash = :token_hash
    """
)


def _judge(row: Mapping[Any, Any] | None, now: datetime) -> SessionCheck:
    if row is None:
        return SessionCheck(SessionState.UNKNOWN)
    record = SessionRecord.from_row(row, "s_")
    user = UserRecord.from_row(row, "u_")
    if not record.is_active:
        state = SessionState.ENDED
    elif now >= record.absolute_expires_at:
        state = SessionState.ABSOLUTE_TIMEOUT
    elif now >= record.expires_at:
        state = SessionState.IDLE_TIMEOUT
    elif not user.is_active:
        state = SessionState.USER_DISABLED
    elif user.locked_at(now):
        state = SessionState.USER_LOCKED
    else:
        state = SessionState.VALID
    return SessionCheck(state, record, user)


def peek(session: Session, *, token: str, now: datetime) -> SessionCheck:
    """Tell whether ``token`` opens a session at ``now``, without writing anything."""
    at = require_utc(now)
    if not well_formed(token):
        return SessionCheck(SessionState.MALFORMED)
    row = session.execute(_LOOKUP, {"token_hash": token_digest(token)}).mappings().first()
    return _judge(row, at)


def validate(session: Session, *, token: str, now: datetime, config: AuthConfig) -> SessionCheck:
    """Check ``token`` at ``now``; end a timed-out session; slide the idle expiry.

    A valid session's activity time and idle expiry are written only when the stored
    activity is older than ``config.activity_interval`` (about once a minute per session,
    not on every request). A session found timed out is ended with a ``session_timeout``
    audit row. A locked user's sessions are refused but not ended, so an attacker who
    locks an account does not also log its owner out.

    Returns:
        The check; call ``.require()`` for the user and session or :class:`SessionInvalid`.
    """
    at = require_utc(now)
    check = peek(session, token=token, now=at)
    record = check.session
    if record is None:
        return check
    if check.state in (SessionState.IDLE_TIMEOUT, SessionState.ABSOLUTE_TIMEOUT):
        reason = "absolute" if check.state is SessionState.ABSOLUTE_TIMEOUT else "idle"
        _end_and_record(
            session,
            where="session_id = :session_id",
            params={"session_id": record.session_id},
            event=AuditEvent.SESSION_TIMEOUT,
            details={"reason": reason},
            now=at,
        )
        return check
    last = record.last_activity_at
    if check.valid and last is not None and at - last >= config.activity_interval:
        expires = min(at + config.session_idle, record.absolute_expires_at)
        session.execute(
            text(
                "UPDATE auth.sessions SET last_activity_at = :now, expires_at = :expires "
                "WHERE session_id = :session_id AND is_active AND last_activity_at < :now"
            ),
            {"now": at, "expires": expires, "session_id": record.session_id},
        )
        slid = SessionRecord(**{**record.__dict__, "last_activity_at": at, "expires_at": expires})
        return SessionCheck(check.state, slid, check.user)
    return check


# -- ending ---------------------------------------------------------------------------------


def _end(
    session: Session,
    *,
    where: str,
    params: Mapping[str, Any],
    event: AuditEvent,
    details: Mapping[str, Any],
    ip: str | None = None,
    user_agent: str | None = None,
) -> list[Event]:
    """End the active sessions matching ``where``; return one audit event per ended session.

    Each event names the session's user by id and e-mail address, as every audit row about
    a user does.
    """
    rows = session.execute(
        text(
            f"UPDATE auth.sessions SET is_active = false WHERE is_active AND ({where}) "
            "RETURNING session_id, user_id, (SELECT u.email FROM auth.users AS u "
            "WHERE u.user_id = auth.sessions.user_id)"
        ),
        dict(params),
    ).all()
    return [
        Event(
            event,
            user_id=user_id,
            email=email,
            session_id=session_id,
            ip_address=ip,
            user_agent=user_agent,
            details=dict(details),
        )
        for session_id, user_id, email in rows
    ]


def _end_and_record(
    session: Session,
    *,
    where: str,
    params: Mapping[str, Any],
    event: AuditEvent,
    details: Mapping[str, Any],
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> list[uuid.UUID]:
    events = _end(
        session,
        where=where,
        params=params,
        event=event,
        details=details,
        ip=ip,
        user_agent=user_agent,
    )
    audit.record(session, events, now=now)
    return [e.session_id for e in events if e.session_id is not None]


def end_user_sessions(
    session: Session,
    *,
    user_id: uuid.UUID,
    reason: str,
    actor: str | None = None,
    except_session_id: uuid.UUID | None = None,
) -> list[Event]:
    """End ``user_id``'s active sessions (but ``except_session_id``) and return their
    ``session_revoked`` events for the caller to record with its own events.

    For composite changes (disable, delete, password change) that must write all their
    audit rows last; anything else should use :func:`revoke_user_sessions`.
    """
    details: dict[str, Any] = {"reason": reason}
    if actor is not None:
        details["actor"] = actor
    return _end(
        session,
        where="user_id = :user_id AND session_id IS DISTINCT FROM :keep",
        params={"user_id": user_id, "keep": except_session_id},
        event=AuditEvent.SESSION_REVOKED,
        details=details,
    )


def revoke_user_sessions(
    session: Session,
    *,
    user_id: uuid.UUID,
    now: datetime,
    reason: str = "administrator",
    actor: str | None = None,
    except_session_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """End every active session of ``user_id`` (an administrator's "log out everywhere")."""
    at = require_utc(now)
    events = end_user_sessions(
        session, user_id=user_id, reason=reason, actor=actor, except_session_id=except_session_id
    )
    audit.record(session, events, now=at)
    return [e.session_id for e in events if e.session_id is not None]


def _known(session: Session, token: str, now: datetime) -> SessionRecord:
    check = peek(session, token=token, now=now)
    if check.session is None:
        raise SessionInvalid
    return check.session


def logout(
    session: Session,
    *,
    token: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SessionRecord:
    """End the session of ``token`` (a ``logout`` audit row); ending it twice does nothing.

    Raises:
        SessionInvalid: the token opens no session medz1 knows.
    """
    at = require_utc(now)
    record = _known(session, token, at)
    _end_and_record(
        session,
        where="session_id = :session_id",
        params={"session_id": record.session_id},
        event=AuditEvent.LOGOUT,
        details={"scope": "this session"},
        now=at,
        ip=ip,
        user_agent=user_agent,
    )
    return record


def logout_everywhere(
    session: Session,
    *,
    token: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> list[uuid.UUID]:
    """End every active session of the user of ``token``; one ``logout`` row each.

    Raises:
        SessionInvalid: the token opens no session that may be used now.
    """
    at = require_utc(now)
    _, record = peek(session, token=token, now=at).require()
    return _end_and_record(
        session,
        where="user_id = :user_id",
        params={"user_id": record.user_id},
        event=AuditEvent.LOGOUT,
        details={"scope": "everywhere"},
        now=at,
        ip=ip,
        user_agent=user_agent,
    )


def revoke_session(
    session: Session, *, session_id: uuid.UUID, now: datetime, actor: str | None = None
) -> SessionRecord:
    """End one session by its id (an administrator's action; ``session_revoked``).

    Raises:
        NotFoundError: no session has that id.
    """
    at = require_utc(now)
    record = get_session(session, session_id=session_id)
    details: dict[str, Any] = {"reason": "administrator"}
    if actor is not None:
        details["actor"] = actor
    _end_and_record(
        session,
        where="session_id = :session_id",
        params={"session_id": session_id},
        event=AuditEvent.SESSION_REVOKED,
        details=details,
        now=at,
    )
    return record


# -- reading and purging --------------------------------------------------------------------


def get_session(session: Session, *, session_id: uuid.UUID) -> SessionRecord:
    """The session with id ``session_id``.

    Raises:
        NotFoundError: no session has that id.
    """
    row = (
        session.execute(
            text(f"SELECT {', '.join(SESSION_COLUMNS)} FROM auth.sessions WHERE session_id = :i"),
            {"i": session_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"no session has id {session_id}", hint="see `medz1 sessions list --all`"
        )
    return SessionRecord.from_row(row)


def list_sessions(
    session: Session,
    *,
    now: datetime,
    user_id: uuid.UUID | None = None,
    include_ended: bool = False,
    limit: int = 1000,
) -> list[SessionRecord]:
    """Sessions, newest first: those usable at ``now``, or all with ``include_ended``."""
    at = require_utc(now)
    rows = session.execute(
        text(
            f"""
            SELECT {", ".join(SESSION_COLUMNS)} FROM auth.sessions
            WHERE (CAST(:user_id AS uuid) IS NULL OR user_id = :user_id)
              AND (:all OR (is_active AND expires_at > :now AND absolute_expires_at > :now))
            ORDER BY created_at DESC, session_id LIMIT :limit
            """
        ),
        {"user_id": user_id, "all": include_ended, "now": at, "limit": limit},
    ).mappings()
    return [SessionRecord.from_row(row) for row in rows]


def purge_expired(session: Session, *, now: datetime) -> PurgeReport:
    """End sessions that timed out unnoticed (``session_timeout`` rows) and delete every
    ended or expired session. Audit rows stay; they hold no foreign key to sessions.
    """
    at = require_utc(now)
    events = _end(
        session,
        where="absolute_expires_at <= :now",
        params={"now": at},
        event=AuditEvent.SESSION_TIMEOUT,
        details={"reason": "absolute"},
    ) + _end(
        session,
        where="expires_at <= :now",
        params={"now": at},
        event=AuditEvent.SESSION_TIMEOUT,
        details={"reason": "idle"},
    )
    deleted = session.execute(
        text(
            "DELETE FROM auth.sessions WHERE is_active IS NOT TRUE "
            "OR expires_at <= :now OR absolute_expires_at <= :now RETURNING session_id"
        ),
        {"now": at},
    ).all()
    audit.record(session, events, now=at)
    return PurgeReport(timed_out=len(events), deleted=len(deleted))
