"""The audit trail: writing events, reading them, verifying the hash chain, purging old rows.

Every authentication event is written by the function that makes the change, in the same
transaction (S16, S17): if the INSERT fails, the change fails with it. Rows are append-only
(S18). The database chains each row as it is inserted and stamps its id and time (trigger
``audit_logs_chain``, migrations 0003 and 0005); :func:`verify_chain` recomputes every hash
here, in Python, from the row's fields, so a verification does not trust code stored in the
database it checks (S19). After a transaction that wrote audit rows commits, a signed
checkpoint of the newest row goes to the checkpoint log installed by the edge
(:mod:`medz1.auth.checkpoints`), which :func:`verify_chain` compares with the rows.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, func, insert, text
from sqlalchemy.orm import Session

from medz1.auth import checkpoints
from medz1.auth.chain import (
    CANONICAL_VERSION,
    GENESIS_HASH,
    ChainBreak,
    ChainReport,
    canonical_bytes,
    row_hash,
    verify_chain,
)
from medz1.auth.config import MIN_AUDIT_RETENTION_DAYS
from medz1.auth.inputs import as_utc, require_utc
from medz1.errors import DataError
from medz1.models.auth import AuditLog

__all__ = [
    "CANONICAL_VERSION",
    "GENESIS_HASH",
    "SESSION_END_EVENTS",
    "AuditEvent",
    "AuditRecord",
    "ChainBreak",
    "ChainReport",
    "Event",
    "canonical_bytes",
    "checkpoint_committed",
    "export",
    "newest_row",
    "note_written",
    "purge",
    "record",
    "record_grant_changes",
    "row_hash",
    "tail",
    "verify_chain",
]


class AuditEvent(enum.StrEnum):
    """Event types written to ``auth.audit_logs.event_type`` (S16)."""

    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_UNLOCKED = "account_unlocked"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    SESSION_TIMEOUT = "session_timeout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    PASSWORD_REHASHED = "password_rehashed"  # noqa: S105 - an event name
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_DELETED = "user_deleted"
    GRANTS_CHANGED = "grants_changed"
    AUDIT_PURGED = "audit_purged"
    BACKUP_RESTORED = "backup_restored"
    PATIENT_VIEW = "patient_view"
    ACCESS_DENIED = "access_denied"
    FLAG_CHANGED = "flag_changed"
    SETTING_CHANGED = "setting_changed"
    BREAK_GLASS = "break_glass"


#: Events that end a session; every ended session has exactly one of them (S15).
SESSION_END_EVENTS: frozenset[AuditEvent] = frozenset(
    {AuditEvent.LOGOUT, AuditEvent.SESSION_REVOKED, AuditEvent.SESSION_TIMEOUT}
)


@dataclass(frozen=True)
class Event:
    """One audit row to write. Never put a password, token or hash into any field."""

    event_type: AuditEvent
    user_id: uuid.UUID | None = None
    email: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    success: bool | None = True
    failure_reason: str | None = None
    session_id: uuid.UUID | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One stored audit row."""

    audit_id: int
    chain_seq: int
    event_type: str
    event_timestamp: datetime | None
    user_id: uuid.UUID | None
    email: str | None
    ip_address: str | None
    user_agent: str | None
    success: bool | None
    failure_reason: str | None
    session_id: uuid.UUID | None
    details: dict[str, Any] | None
    row_hash: bytes

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-ready values (hash as hex)."""
        return {
            "audit_id": self.audit_id,
            "chain_seq": self.chain_seq,
            "event_type": self.event_type,
            "event_timestamp": self.event_timestamp.isoformat() if self.event_timestamp else None,
            "user_id": str(self.user_id) if self.user_id else None,
            "email": self.email,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "success": self.success,
            "failure_reason": self.failure_reason,
            "session_id": str(self.session_id) if self.session_id else None,
            "details": self.details,
            "row_hash": self.row_hash.hex(),
        }


_TABLE = AuditLog.__table__
assert isinstance(_TABLE, Table)
# Rows go in the order of the events (sort_by_parameter_order), so the chain keeps it.
_INSERT = insert(_TABLE).returning(
    _TABLE.c.chain_seq,
    _TABLE.c.row_hash,
    func.pg_catalog.current_database(),
    sort_by_parameter_order=True,
)
_TAIL = "medz1.audit.tail"
_HOOKED = "medz1.audit.hooked"
#: Reasons of epoch lines that medz1 itself writes; callers may not use them.
RESERVED_EPOCH_REASONS = frozenset({"started", "file-missing", "acknowledged"})


@dataclass(frozen=True)
class _Tail:
    """The newest audit row a transaction wrote, to be checkpointed when it commits."""

    database: str
    seq: int
    row_hash: bytes
    first_seq: int
    epoch: str | None


def record(
    session: Session,
    events: Iterable[Event],
    *,
    now: datetime | None = None,
    new_epoch: str | None = None,
) -> int:
    """Write ``events`` in the caller's transaction; return how many.

    The database assigns each row's ``audit_id``, ``event_timestamp`` (its clock) and chain
    values (S19); ``now`` is accepted so callers that pass their clock need not change, but
    it is not stored. When the transaction commits, a signed checkpoint of the newest row is
    appended to the installed checkpoint log (see :mod:`medz1.auth.checkpoints`); a session
    joined to a transaction it does not commit must call :func:`checkpoint_committed` after
    that commit. ``new_epoch`` (for example ``"restore"``) makes that checkpoint start a new
    epoch: earlier checkpoints of the database are no longer compared with its rows (a
    restore that rewinds the chain on purpose).

    Call it after the change the events record and after every row lock the transaction
    needs: the insert trigger locks the chain head until commit, so taking other locks
    afterwards could make two transactions wait for each other.

    Raises:
        ValueError: ``new_epoch`` is a reason medz1 reserves for itself.
        DataError: the database stored fewer rows than given (a trigger discards them); the
            caller's transaction must then roll back (S17).
        sqlalchemy.exc.DBAPIError: the INSERT failed (for example 42501 when the role may
            not write audit rows); the caller's transaction must then roll back (S17).
    """
    del now  # the server's clock stamps audit rows (S19)
    if new_epoch is not None and new_epoch in RESERVED_EPOCH_REASONS:
        raise ValueError(f"epoch reason {new_epoch!r} is reserved")
    rows = [
        {
            "user_id": event.user_id,
            "event_type": str(event.event_type),
            "email": event.email,
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
            "success": event.success,
            "failure_reason": event.failure_reason,
            "session_id": event.session_id,
            "details": None if event.details is None else dict(event.details),
        }
        for event in events
    ]
    if not rows:
        return 0
    written = session.execute(_INSERT, rows).all()
    if len(written) != len(rows):
        # A trigger that swallows inserts (RETURN NULL) would lose events silently (S17).
        raise DataError(
            f"{len(rows) - len(written)} of {len(rows)} audit row(s) were not stored",
            hint="a trigger on auth.audit_logs discards rows; run `medz1 check` and "
            "`medz1 audit verify`",
        )
    first = min(int(row[0]) for row in written)
    seq, row_hash_, database = max(written, key=lambda row: int(row[0]))
    _note_tail(session, _Tail(str(database), int(seq), bytes(row_hash_), first, new_epoch))
    return len(rows)


def note_written(session: Session, *, database: str, seq: int, row_hash: bytes) -> None:
    """Note an audit row a database function wrote in ``session``'s transaction (chain
    position ``seq``, hash ``row_hash``), so it is checkpointed when the transaction
    commits, as the rows :func:`record` writes are.
    """
    _note_tail(session, _Tail(database, seq, row_hash, seq, None))


def _note_tail(session: Session, tail: _Tail) -> None:
    known: _Tail | None = session.info.get(_TAIL)
    if known is not None:
        newest = known if known.seq > tail.seq else tail
        tail = replace(
            newest, first_seq=min(tail.first_seq, known.first_seq), epoch=tail.epoch or known.epoch
        )
    session.info[_TAIL] = tail
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", checkpoint_committed)
        # Any rollback, a savepoint's included, may have taken rows of the tail with it:
        # forget it (a missed checkpoint is safe, one naming a rolled-back row is not).
        event.listen(session, "after_soft_rollback", _forget_tail)
        session.info[_HOOKED] = True


def _forget_tail(session: Session, _previous: object) -> None:
    session.info.pop(_TAIL, None)


def checkpoint_committed(session: Session, *, database: str | None = None) -> None:
    """Checkpoint the audit rows ``session`` wrote, now that their transaction committed.

    Runs by itself when the session commits; call it only for a session joined to a
    connection whose transaction the caller commits (``Session(bind=connection)``), after
    that commit. Does nothing when no rows were written or no checkpoint log is installed.
    ``database`` names the database the rows live in when it was renamed since they were
    written (a restore builds under an unfinished name).

    Raises:
        ConfigurationError: the checkpoint could not be written (the rows stay committed).
    """
    tail: _Tail | None = session.info.pop(_TAIL, None)
    if tail is None:
        return
    log = checkpoints.active()
    if log is None:
        return
    kind, reason = ("epoch", tail.epoch) if tail.epoch else ("checkpoint", None)
    if not log.path.exists():
        # A file that appears here for the first time starts the log; a file that vanished
        # while the key and older rows stayed is recorded as lost, never silently restarted.
        fresh = log.fresh_key or tail.first_seq == 1
        kind, reason = "epoch", (reason or "started") if fresh else "file-missing"
    if kind == "checkpoint":
        # Group commit: threads committing together share one line and one fsync.
        log.cover(database=database or tail.database, seq=tail.seq, row_hash=tail.row_hash)
        return
    log.append(
        database=database or tail.database,
        seq=tail.seq,
        row_hash=tail.row_hash,
        kind=kind,
        reason=reason,
    )


def record_grant_changes(
    session: Session, *, changes: Iterable[str], now: datetime, actor: str | None = None
) -> int:
    """Write one ``grants_changed`` row per change of roles or grants applied (S16).

    ``changes`` are the descriptions ``grants apply`` prints (they name roles, objects and
    privileges, never a password). Returns how many rows were written.
    """
    events = [
        Event(
            AuditEvent.GRANTS_CHANGED,
            details={"change": change, **({"actor": actor} if actor else {})},
        )
        for change in changes
    ]
    return record(session, events, now=now)


# -- reading ------------------------------------------------------------------------------

#: The columns of ``auth.audit_logs`` an :class:`AuditRecord` holds: its fields, in order.
AUDIT_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AuditRecord))
_COLUMNS = ", ".join(AUDIT_COLUMNS)


def _audit_record(row: Mapping[Any, Any]) -> AuditRecord:
    values = dict(row)
    values["event_timestamp"] = as_utc(values["event_timestamp"])
    values["row_hash"] = bytes(values["row_hash"])
    return AuditRecord(**values)


def tail(
    session: Session,
    *,
    limit: int = 20,
    user_id: uuid.UUID | None = None,
    event_type: str | None = None,
) -> list[AuditRecord]:
    """The newest ``limit`` rows (newest last), optionally of one user or one event type."""
    if not 1 <= limit <= 100_000:
        raise DataError("the number of rows must be from 1 to 100000", hint="for example 20")
    rows = session.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM auth.audit_logs
            WHERE (CAST(:user_id AS pg_catalog.uuid) IS NULL OR user_id = :user_id)
              AND (CAST(:event_type AS pg_catalog.text) IS NULL OR event_type = :event_type)
            ORDER BY chain_seq DESC LIMIT :limit
            """
        ),
        {"user_id": user_id, "event_type": event_type, "limit": limit},
    ).mappings()
    return [_audit_record(row) for row in reversed(list(rows))]


def export(session: Session, *, since: datetime | None = None) -> Iterator[AuditRecord]:
    """Every row in chain order (from ``since`` on, if given), read in batches."""
    start = require_utc(since) if since is not None else None
    statement = text(
        f"""
        SELECT {_COLUMNS} FROM auth.audit_logs
        WHERE CAST(:since AS pg_catalog.timestamptz) IS NULL OR event_timestamp >= :since
        ORDER BY chain_seq
        """
    ).execution_options(yield_per=2000)
    for row in session.execute(statement, {"since": start}).mappings():
        yield _audit_record(row)


def purge(session: Session, *, retention_days: int) -> int:
    """Delete the oldest audit rows, all older than ``retention_days``; return how many.

    Runs ``auth.purge_audit_logs`` (the auditor role may execute it): only a prefix of the
    chain goes, its last hash becomes the chain's anchor, and an ``audit_purged`` row
    records the purge, so the chain still verifies (S21).

    Raises:
        DataError: ``retention_days`` is below 2,192 (six years).
    """
    if retention_days < MIN_AUDIT_RETENTION_DAYS:
        raise DataError(
            f"audit rows are kept at least {MIN_AUDIT_RETENTION_DAYS} days (six years)",
            hint=f"use a retention of {MIN_AUDIT_RETENTION_DAYS} days or more",
        )
    deleted = session.execute(
        text("SELECT auth.purge_audit_logs(:days)"), {"days": retention_days}
    ).scalar_one()
    # After deleting, the function appended an audit_purged row and still holds the chain
    # head lock, so the newest row is that one: checkpoint it when the purge commits.
    newest = session.execute(_NEWEST).first() if deleted else None
    if newest is not None:
        seq, hash_, database = newest
        _note_tail(session, _Tail(str(database), int(seq), bytes(hash_), int(seq), None))
    return int(deleted)


_NEWEST = text(
    "SELECT l.chain_seq, l.row_hash, pg_catalog.current_database() FROM auth.audit_logs AS l "
    "ORDER BY l.chain_seq DESC LIMIT 1"
)


def newest_row(session: Session) -> tuple[str, int, bytes] | None:
    """``(database, chain_seq, row_hash)`` of the newest audit row, or None when empty."""
    found = session.execute(_NEWEST).first()
    if found is None:
        return None
    seq, hash_, database = found
    return str(database), int(seq), bytes(hash_)
