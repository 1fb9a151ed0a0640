"""Users: create, find, list, update, disable, enable, lock, unlock, passwords, delete.

Every function takes the caller's session, changes rows and writes the audit rows of the
change last (see :func:`medz1.auth.audit.record`), and never commits. E-mail addresses are
stored stripped and in lower case and are unique case-insensitively. Deleting a user
deletes its sessions (foreign key ``ON DELETE CASCADE``) and leaves its audit rows exactly
as they were (S18).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medz1.auth import audit, login, sessions
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.config import AuthConfig
from medz1.auth.errors import AuthenticationFailed, InvalidInputError, UserExistsError
from medz1.auth.inputs import (
    clean_ip,
    clean_station,
    clean_text,
    clean_user_agent,
    normalize_email,
    require_utc,
)
from medz1.auth.password_rules import check_new_password
from medz1.auth.passwords import PasswordHasher, identify_scheme
from medz1.auth.records import USER_COLUMNS, UserRecord
from medz1.db.engine import unit_of_work
from medz1.db.errors import sqlstate
from medz1.errors import NotFoundError

UNIQUE_VIOLATION = "23505"
_RETURNING = "RETURNING " + ", ".join(USER_COLUMNS)
_SELECT = "SELECT " + ", ".join(USER_COLUMNS) + " FROM auth.users"


@dataclass(frozen=True)
class NewUser:
    """The fields of a user to create (the password is given separately).

    Attributes:
        email: login address; stored stripped and in lower case.
        display_name: name shown in the viewer; defaults to first and last name, or the
            e-mail address.
        first_name: first name, optional.
        last_name: last name, optional.
        home_site_sta3n: VA station number of the user's home facility, optional.
    """

    email: str
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    home_site_sta3n: int | None = None


def _checked(new: NewUser) -> dict[str, Any]:
    email = normalize_email(new.email)
    first = clean_text(new.first_name, field="first name", max_length=100)
    last = clean_text(new.last_name, field="last name", max_length=100)
    fallback = " ".join(part for part in (first, last) if part) or email
    display = clean_text(new.display_name, field="display name", max_length=255) or fallback
    return {
        "email": email,
        "display_name": display,
        "first_name": first,
        "last_name": last,
        "home_site_sta3n": clean_station(new.home_site_sta3n),
    }


def _context_words(fields: Mapping[Any, Any], extra: Iterable[str]) -> list[str]:
    words = [fields["email"], fields["display_name"], *extra]
    words += [fields[name] for name in ("first_name", "last_name") if fields.get(name)]
    return [str(word) for word in words]


def _actor_details(actor: str | None, **more: Any) -> dict[str, Any]:
    details = {key: value for key, value in more.items() if value is not None}
    if actor is not None:
        details["actor"] = actor
    return details


def create_user(
    session: Session,
    *,
    user: NewUser,
    password: str,
    hasher: PasswordHasher,
    now: datetime,
    created_by: str = "system",
    context_words: Iterable[str] = (),
) -> UserRecord:
    """Create a user with a new password (checked against S3-S4); a ``user_created`` row.

    Args:
        session: the caller's session.
        user: the user's fields.
        password: the new password; checked with the e-mail, names and ``context_words``
            (for example station names) as words it must not contain.
        hasher: hashes the password (argon2id).
        now: the clock.
        created_by: who creates the user (an administrator's e-mail or ``system``).
        context_words: more words the password must not contain.

    Raises:
        InvalidInputError: a field is malformed.
        PasswordRuleError: the password breaks a rule (the reason says which).
        UserExistsError: the e-mail address is taken (compared case-insensitively).
    """
    at = require_utc(now)
    fields = _checked(user)
    author = clean_text(created_by, field="creator", max_length=100, required=True)
    check_new_password(password, context_words=_context_words(fields, context_words))
    if _find_row(session, fields["email"]) is not None:
        raise UserExistsError("a user with this e-mail address already exists")
    try:
        with session.begin_nested():
            row = (
                session.execute(
                    text(
                        f"""
                        INSERT INTO auth.users (email, password_hash, display_name, first_name,
                            last_name, home_site_sta3n, is_active, is_locked,
                            failed_login_attempts, created_at, updated_at, created_by,
                            password_changed_at)
                        VALUES (:email, :hash, :display_name, :first_name, :last_name,
                            :home_site_sta3n, true, false, 0, :now, :now, :by, :now)
                        {_RETURNING}
                        """
                    ),
                    {**fields, "hash": hasher.hash(password), "now": at, "by": author},
                )
                .mappings()
                .one()
            )
    except IntegrityError as exc:
        if sqlstate(exc) == UNIQUE_VIOLATION:  # a concurrent create won the race
            raise UserExistsError("a user with this e-mail address already exists") from exc
        raise
    record = UserRecord.from_row(row)
    audit.record(
        session,
        [
            Event(
                AuditEvent.USER_CREATED,
                user_id=record.user_id,
                email=record.email,
                details=_actor_details(author, home_site_sta3n=record.home_site_sta3n),
            )
        ],
        now=at,
    )
    return record


# -- finding --------------------------------------------------------------------------------


def _find_row(session: Session, email: str, *, lock: bool = False) -> Mapping[Any, Any] | None:
    suffix = " FOR UPDATE" if lock else ""
    return (
        session.execute(
            text(f"{_SELECT} WHERE pg_catalog.lower(email) = :email{suffix}"), {"email": email}
        )
        .mappings()
        .first()
    )


def find_user(session: Session, *, email: str) -> UserRecord:
    """The user with ``email`` (any case).

    Raises:
        InvalidInputError: ``email`` is not an address.
        NotFoundError: no such user.
    """
    row = _find_row(session, normalize_email(email))
    if row is None:
        raise NotFoundError("no user has this e-mail address", hint="see `medz1 users list`")
    return UserRecord.from_row(row)


def get_user(session: Session, *, user_id: uuid.UUID, lock: bool = False) -> UserRecord:
    """The user with id ``user_id``; with ``lock``, its row is locked until commit.

    Raises:
        NotFoundError: no such user.
    """
    suffix = " FOR UPDATE" if lock else ""
    row = (
        session.execute(text(f"{_SELECT} WHERE user_id = :user_id{suffix}"), {"user_id": user_id})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"no user has id {user_id}", hint="see `medz1 users list`")
    return UserRecord.from_row(row)


def resolve_user(session: Session, *, ident: str) -> UserRecord:
    """The user named by an e-mail address or a user id (as typed on the command line).

    Raises:
        InvalidInputError: neither an address nor a UUID.
        NotFoundError: no such user.
    """
    try:
        user_id = uuid.UUID(ident.strip())
    except (ValueError, AttributeError):
        return find_user(session, email=ident)
    return get_user(session, user_id=user_id)


def list_users(
    session: Session, *, active: bool | None = None, limit: int = 1000, offset: int = 0
) -> list[UserRecord]:
    """Users ordered by e-mail; only active or only disabled ones if ``active`` is given."""
    rows = session.execute(
        text(
            f"""
            {_SELECT}
            WHERE CAST(:active AS boolean) IS NULL OR (is_active IS NOT FALSE) = :active
            ORDER BY pg_catalog.lower(email) LIMIT :limit OFFSET :offset
            """
        ),
        {"active": active, "limit": limit, "offset": offset},
    ).mappings()
    return [UserRecord.from_row(row) for row in rows]


# -- changing -------------------------------------------------------------------------------


def _update(
    session: Session, user_id: uuid.UUID, assignments: str, params: Mapping[str, Any]
) -> UserRecord:
    row = (
        session.execute(
            text(f"UPDATE auth.users SET {assignments} WHERE user_id = :user_id {_RETURNING}"),
            {**params, "user_id": user_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"no user has id {user_id}", hint="see `medz1 users list`")
    return UserRecord.from_row(row)


def update_user(
    session: Session,
    *,
    user_id: uuid.UUID,
    changes: NewUser,
    now: datetime,
    actor: str | None = None,
) -> UserRecord:
    """Replace the names and home station of a user (``changes.email`` must be its own);
    a ``user_updated`` row.

    Raises:
        InvalidInputError: a field is malformed, or ``changes.email`` is another address.
        NotFoundError: no such user.
    """
    at = require_utc(now)
    current = get_user(session, user_id=user_id, lock=True)
    fields = _checked(changes)
    if fields["email"] != current.email.lower():
        raise InvalidInputError(
            "the e-mail address of a user cannot be changed",
            hint="create a new user and delete the old one",
        )
    record = _update(
        session,
        user_id,
        "display_name = :display_name, first_name = :first_name, last_name = :last_name, "
        "home_site_sta3n = :home_site_sta3n, updated_at = :now",
        {**fields, "now": at},
    )
    audit.record(
        session,
        [
            Event(
                AuditEvent.USER_UPDATED,
                user_id=user_id,
                email=record.email,
                details=_actor_details(actor),
            )
        ],
        now=at,
    )
    return record


@dataclass(frozen=True)
class _Switch:
    """One administrative change of a user's state, and how it is audited.

    Disable, enable, lock and unlock all go through :func:`_switch`, so they lock the row,
    change it and write their audit rows the same way.
    """

    assignments: str
    event: AuditEvent
    #: Whether the user, as it is, has anything to change (otherwise: no update, no row).
    changes: Callable[[UserRecord], bool]
    #: Whether the change is audited, judged on the user before the change.
    audited: Callable[[UserRecord], bool] = lambda _user: True
    #: The change ends the user's sessions (a ``session_revoked`` row each, first).
    ends_sessions: bool = False


_DISABLE = _Switch(
    "is_active = false, disabled_at = :now, disabled_reason = :why, updated_at = :now",
    AuditEvent.USER_DISABLED,
    changes=lambda user: user.is_active,
    ends_sessions=True,
)
_ENABLE = _Switch(
    "is_active = true, disabled_at = NULL, disabled_reason = NULL, enabled_at = :now, "
    "updated_at = :now",
    AuditEvent.USER_ENABLED,
    changes=lambda user: not user.is_active,
)
#: Locking again turns a lockout that expires into one an administrator must lift.
_LOCK = _Switch(
    "is_locked = true, locked_until = NULL, updated_at = :now",
    AuditEvent.ACCOUNT_LOCKED,
    changes=lambda _user: True,
)
#: Unlocking resets the failure count; it is audited only when a lock was lifted, and an
#: account neither locked nor with failures is left as it is (run twice, nothing changes).
_UNLOCK = _Switch(
    "is_locked = false, locked_until = NULL, failed_login_attempts = 0, updated_at = :now",
    AuditEvent.ACCOUNT_UNLOCKED,
    changes=lambda user: user.is_locked or user.failed_login_attempts > 0,
    audited=lambda user: user.is_locked,
)


def _switch(
    session: Session,
    switch: _Switch,
    *,
    user_id: uuid.UUID,
    at: datetime,
    details: dict[str, Any],
    params: Mapping[str, Any] | None = None,
) -> tuple[UserRecord, list[Event]]:
    """Apply ``switch`` to one user; return the user and the audit events to record."""
    current = get_user(session, user_id=user_id, lock=True)
    if not switch.changes(current):
        return current, []
    record = _update(session, user_id, switch.assignments, {**(params or {}), "now": at})
    if not switch.audited(current):
        return record, []
    events: list[Event] = []
    if switch.ends_sessions:
        events = sessions.end_user_sessions(
            session, user_id=user_id, reason="user_disabled", actor=details.get("actor")
        )
    events.append(Event(switch.event, user_id=user_id, email=record.email, details=details))
    return record, events


def _switch_and_record(
    session: Session,
    switch: _Switch,
    *,
    user_id: uuid.UUID,
    now: datetime,
    details: dict[str, Any],
    params: Mapping[str, Any] | None = None,
) -> UserRecord:
    at = require_utc(now)
    record, events = _switch(
        session, switch, user_id=user_id, at=at, details=details, params=params
    )
    if events:
        audit.record(session, events, now=at)
    return record


def disable_user(
    session: Session,
    *,
    user_id: uuid.UUID,
    now: datetime,
    reason: str = "administrator",
    actor: str | None = None,
) -> UserRecord:
    """Disable a user and end all its sessions (``session_revoked`` rows, then
    ``user_disabled``); a disabled user is left as it is.

    Raises:
        NotFoundError: no such user.
        InvalidInputError: ``reason`` is empty or malformed.
    """
    why = str(clean_text(reason, field="reason", max_length=100, required=True))
    return _switch_and_record(
        session,
        _DISABLE,
        user_id=user_id,
        now=now,
        details=_actor_details(actor, reason=why),
        params={"why": why},
    )


def enable_user(
    session: Session, *, user_id: uuid.UUID, now: datetime, actor: str | None = None
) -> UserRecord:
    """Enable a disabled user (``user_enabled``); restarts its dormancy clock.

    Raises:
        NotFoundError: no such user.
    """
    return _switch_and_record(
        session, _ENABLE, user_id=user_id, now=now, details=_actor_details(actor)
    )


def lock_user(
    session: Session, *, user_id: uuid.UUID, now: datetime, actor: str | None = None
) -> UserRecord:
    """Lock a user until an administrator unlocks it (``account_locked``).

    Its sessions stay but are refused while the lock holds.

    Raises:
        NotFoundError: no such user.
    """
    details = _actor_details(actor, by="administrator")
    return _switch_and_record(session, _LOCK, user_id=user_id, now=now, details=details)


def unlock_user(
    session: Session, *, user_id: uuid.UUID, now: datetime, actor: str | None = None
) -> UserRecord:
    """Unlock a user and reset its failure count (``account_unlocked`` if it was locked).

    Raises:
        NotFoundError: no such user.
    """
    details = _actor_details(actor, by="administrator")
    return _switch_and_record(session, _UNLOCK, user_id=user_id, now=now, details=details)


def set_admin(
    session: Session,
    *,
    user_id: uuid.UUID,
    admin: bool,
    now: datetime,
    actor: str | None = None,
) -> bool:
    """Make a user an administrator of the service, or not (``user_updated`` when changed).

    Returns:
        True when the flag changed.

    Raises:
        NotFoundError: no such user.
    """
    at = require_utc(now)
    current = get_user(session, user_id=user_id, lock=True)
    changed = session.execute(
        text(
            "UPDATE auth.users SET is_admin = :admin, updated_at = :now "
            "WHERE user_id = :user_id AND is_admin IS DISTINCT FROM :admin RETURNING user_id"
        ),
        {"admin": admin, "now": at, "user_id": user_id},
    ).first()
    if changed is not None:
        details = _actor_details(actor, is_admin=admin)
        event = Event(
            AuditEvent.USER_UPDATED, user_id=user_id, email=current.email, details=details
        )
        audit.record(session, [event])
    return changed is not None


def is_admin(session: Session, *, user_id: uuid.UUID) -> bool:
    """True when the user is an administrator of the service (false for an unknown user)."""
    found = session.execute(
        text("SELECT is_admin FROM auth.users WHERE user_id = :user_id"), {"user_id": user_id}
    ).scalar()
    return found is True


def set_password(
    session: Session,
    *,
    user_id: uuid.UUID,
    new_password: str,
    hasher: PasswordHasher,
    now: datetime,
    actor: str | None = None,
    context_words: Iterable[str] = (),
) -> UserRecord:
    """An administrator sets a user's password: every session of the user ends
    (``session_revoked``), then ``password_changed``.

    Raises:
        NotFoundError: no such user.
        PasswordRuleError: the password breaks a rule.
    """
    at = require_utc(now)
    current = get_user(session, user_id=user_id, lock=True)
    check_new_password(new_password, context_words=_context_words(current.__dict__, context_words))
    record = _update(
        session,
        user_id,
        "password_hash = :hash, password_changed_at = :now, updated_at = :now",
        {"hash": hasher.hash(new_password), "now": at},
    )
    events = sessions.end_user_sessions(
        session, user_id=user_id, reason="password_reset", actor=actor
    )
    events.append(
        Event(
            AuditEvent.PASSWORD_CHANGED,
            user_id=user_id,
            email=record.email,
            details=_actor_details(actor, by="administrator"),
        )
    )
    audit.record(session, events, now=at)
    return record


def change_password(
    session: Session,
    *,
    user_id: uuid.UUID,
    current_password: object,
    new_password: str,
    hasher: PasswordHasher,
    now: datetime,
    config: AuthConfig,
    ip: str | None = None,
    user_agent: str | None = None,
    context_words: Iterable[str] = (),
) -> sessions.IssuedSession:
    """A user changes its own password, giving the current one (S7).

    The current password is checked like a login (S37): the attempt is counted before the
    check (:func:`medz1.auth.login.reserve`), the check runs outside any lock and costs
    what any failure costs, and it is refused unchecked while the account is locked or
    disabled. A failure is committed in its own transaction through the session's engine,
    whatever the caller then does: a ``login_failed`` row (``details.during`` is
    ``password_change``) and, at the threshold, the lock. Call it with a session that
    holds no lock on the user's row.

    On success, in the caller's session: the count is taken back, every session of the
    user ends (``session_revoked``, reason ``password_changed``) and a new session is
    opened and returned, so the session the change was made from is rotated; then
    ``password_changed``. If the caller rolls back, the attempt stays counted as a failure.

    Raises:
        AuthenticationFailed: the current password is wrong or not text, or the account
            is locked or disabled (the failure is committed; nothing is changed).
        PasswordRuleError: the new password breaks a rule (checked first; not counted).
        InvalidInputError: ``ip`` or ``user_agent`` is malformed.
        NotFoundError: no such user.
    """
    at = require_utc(now)
    client_ip, client_agent = clean_ip(ip), clean_user_agent(user_agent)
    current = get_user(session, user_id=user_id)
    check_new_password(new_password, context_words=_context_words(current.__dict__, context_words))
    engine = _engine_of(session)
    reservation = None
    if isinstance(current_password, str):
        with unit_of_work(engine) as own:
            reservation = login.reserve(own, user_id=user_id, now=at, config=config)
        if reservation is None:
            raise NotFoundError(f"no user has id {user_id}", hint="see `medz1 users list`")
    stored = reservation.stored_hash if reservation is not None else None
    verification = hasher.check(stored, current_password)
    if reservation is not None and verification.ok:
        updated = login.record_success(
            session, reservation, new_hash=hasher.hash(new_password), now=at, login=False
        )
        if updated is not None:
            return _rotate_after_change(session, current, client_ip, client_agent, at, config)
    reason = (
        "invalid_input"
        if reservation is None
        else (reservation.reason or ("concurrent_change" if verification.ok else "wrong_password"))
    )
    _record_refused_change(
        engine, reservation, current, reason, client_ip, client_agent, at, config
    )
    raise AuthenticationFailed(
        "the current password is wrong", hint="give the password you logged in with"
    )


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _record_refused_change(
    engine: Engine,
    reservation: login.Reservation | None,
    user: UserRecord,
    reason: str,
    ip: str | None,
    user_agent: str | None,
    at: datetime,
    config: AuthConfig,
) -> None:
    failed = Event(
        AuditEvent.LOGIN_FAILED,
        user_id=user.user_id,
        email=user.email,
        ip_address=ip,
        user_agent=user_agent,
        success=False,
        failure_reason=reason,
        details={"during": "password_change"},
    )
    try:
        with unit_of_work(engine) as own:
            locks = (
                login.record_failure(own, reservation, now=at, config=config)
                if reservation is not None
                else []
            )
            audit.record(own, [failed, *locks], now=at)
    except BaseException:
        login.uncount(engine, reservation)
        raise


def _rotate_after_change(
    session: Session,
    user: UserRecord,
    ip: str | None,
    user_agent: str | None,
    at: datetime,
    config: AuthConfig,
) -> sessions.IssuedSession:
    user_id = user.user_id
    session.execute(
        text(
            "UPDATE auth.users SET password_changed_at = :now, updated_at = :now "
            "WHERE user_id = :user_id"
        ),
        {"now": at, "user_id": user_id},
    )
    events = sessions.end_user_sessions(session, user_id=user_id, reason="password_changed")
    issued = sessions.create_session(
        session, user_id=user_id, ip=ip, user_agent=user_agent, now=at, config=config
    )
    events.append(
        Event(
            AuditEvent.PASSWORD_CHANGED,
            user_id=user_id,
            email=user.email,
            session_id=issued.session.session_id,
            ip_address=ip,
            user_agent=user_agent,
            details={"by": "user"},
        )
    )
    audit.record(session, events, now=at)
    return issued


def delete_user(
    session: Session, *, user_id: uuid.UUID, now: datetime, actor: str | None = None
) -> UserRecord:
    """Delete a user: its sessions end (``session_revoked``) and are deleted with it, its
    audit rows stay untouched, and a ``user_deleted`` row records the deletion.

    Raises:
        NotFoundError: no such user.
    """
    at = require_utc(now)
    record = get_user(session, user_id=user_id, lock=True)
    events = sessions.end_user_sessions(
        session, user_id=user_id, reason="user_deleted", actor=actor
    )
    session.execute(text("DELETE FROM auth.users WHERE user_id = :user_id"), {"user_id": user_id})
    events.append(
        Event(
            AuditEvent.USER_DELETED,
            user_id=user_id,
            email=record.email,
            details=_actor_details(actor),
        )
    )
    audit.record(session, events, now=at)
    return record


def disable_dormant(
    session: Session, *, now: datetime, config: AuthConfig, actor: str | None = None
) -> list[UserRecord]:
    """Disable every active user without a login for ``config.dormant_after`` (S10).

    The clock of a user starts at its last login, or at its creation or re-enabling if
    later. Each one is disabled as by :func:`disable_user` (reason ``dormant``), so all its
    sessions end.
    """
    at = require_utc(now)
    cutoff = at - config.dormant_after
    ids = session.execute(
        text(
            """
            SELECT user_id FROM auth.users
            WHERE is_active IS NOT FALSE
              AND greatest(last_login_at, created_at, enabled_at) < :cutoff
            ORDER BY user_id
            FOR UPDATE
            """
        ),
        {"cutoff": cutoff},
    ).scalars()
    disabled: list[UserRecord] = []
    events: list[Event] = []
    for user_id in list(ids):
        record, more = _switch(
            session,
            _DISABLE,
            user_id=user_id,
            at=at,
            details=_actor_details(actor, reason="dormant"),
            params={"why": "dormant"},
        )
        disabled.append(record)
        events.extend(more)
    # All rows are changed first and the audit rows written last (see audit.record).
    audit.record(session, events, now=at)
    return disabled


def upgrade_legacy_hashes(
    session: Session, *, hasher: PasswordHasher, now: datetime, actor: str | None = None
) -> int:
    """Wrap every bare legacy bcrypt hash in argon2id (S1, S5); return how many.

    Each becomes ``argon2id(bcrypt hash)`` (:meth:`PasswordHasher.wrap_legacy`): the user's
    password still works, no bcrypt-only hash is left at rest, and the next successful
    login stores a plain argon2id hash. One ``password_rehashed`` row per user (``from``
    ``bcrypt``, ``to`` ``bcrypt-argon2id``). Idempotent: a wrapped hash is left as it is.
    Never commits; the rows stay locked until the caller commits.
    """
    at = require_utc(now)
    rows = session.execute(
        text(
            "SELECT user_id, email, password_hash FROM auth.users "
            "WHERE pg_catalog.left(password_hash, 2) = '$2' ORDER BY user_id FOR UPDATE"
        )
    ).all()
    events: list[Event] = []
    for user_id, email, stored in rows:
        if identify_scheme(str(stored)) != "bcrypt":
            continue
        session.execute(
            text(
                "UPDATE auth.users SET password_hash = :hash, updated_at = :now "
                "WHERE user_id = :user_id"
            ),
            {"hash": hasher.wrap_legacy(str(stored)), "now": at, "user_id": user_id},
        )
        events.append(
            Event(
                AuditEvent.PASSWORD_REHASHED,
                user_id=user_id,
                email=email,
                details=_actor_details(actor, **{"from": "bcrypt", "to": "bcrypt-argon2id"}),
            )
        )
    audit.record(session, events, now=at)
    return len(events)
