"""The audit trail: writing events, reading them, verifying the hash chain, purging old rows.

Every authentication event is written by the function that makes the change, in the same
transaction (S16, S17): if the INSERT fails, the change fails with it. Rows are append-only
(S18). The database chains each row as it is inserted (trigger ``audit_logs_chain``,
migration 0003); :func:`verify_chain` recomputes every hash here, in Python, from the
row's fields, so a verification does not trust code stored in the database it checks (S19).
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.auth.config import MIN_AUDIT_RETENTION_DAYS
from medz1.auth.inputs import as_utc, require_utc
from medz1.errors import DataError

__all__ = [
    "CANONICAL_VERSION",
    "SESSION_END_EVENTS",
    "AuditEvent",
    "AuditRecord",
    "ChainBreak",
    "ChainReport",
    "Event",
    "canonical_bytes",
    "export",
    "purge",
    "record",
    "record_grant_changes",
    "row_hash",
    "tail",
    "verify_chain",
]

CANONICAL_VERSION = b"medz1-audit-v1"
"""First bytes of the canonical text of a row; a new encoding gets a new version."""
GENESIS_HASH = bytes(32)
"""The anchor of a chain from which nothing was ever purged."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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


_INSERT = text(
    """
    INSERT INTO auth.audit_logs (user_id, event_type, event_timestamp, email, ip_address,
                                 user_agent, success, failure_reason, session_id, details)
    VALUES (:user_id, :event_type, :at, :email, :ip_address, :user_agent, :success,
            :failure_reason, :session_id, CAST(:details AS jsonb))
    """
)


def record(session: Session, events: Iterable[Event], *, now: datetime) -> int:
    """Write ``events`` in the caller's transaction, all stamped ``now``; return how many.

    Call it after the change the events record and after every row lock the transaction
    needs: the insert trigger locks the chain head until commit, so taking other locks
    afterwards could make two transactions wait for each other.

    Raises:
        sqlalchemy.exc.DBAPIError: the INSERT failed (for example 42501 when the role may
            not write audit rows); the caller's transaction must then roll back (S17).
    """
    at = require_utc(now)
    rows = [
        {
            "user_id": event.user_id,
            "event_type": str(event.event_type),
            "at": at,
            "email": event.email,
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
            "success": event.success,
            "failure_reason": event.failure_reason,
            "session_id": event.session_id,
            "details": None if event.details is None else json.dumps(dict(event.details)),
        }
        for event in events
    ]
    if rows:
        session.execute(_INSERT, rows)
    return len(rows)


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

_COLUMNS = (
    "audit_id, chain_seq, event_type, event_timestamp, user_id, email, ip_address, "
    "user_agent, success, failure_reason, session_id, details, row_hash"
)


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
            WHERE (CAST(:user_id AS uuid) IS NULL OR user_id = :user_id)
              AND (CAST(:event_type AS text) IS NULL OR event_type = :event_type)
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
        WHERE CAST(:since AS timestamptz) IS NULL OR event_timestamp >= :since
        ORDER BY chain_seq
        """
    ).execution_options(yield_per=2000)
    for row in session.execute(statement, {"since": start}).mappings():
        yield _audit_record(row)


# -- the hash chain -------------------------------------------------------------------------


def _field(value: str | None) -> bytes:
    if value is None:
        return b"-"
    data = value.encode("utf-8")
    return str(len(data)).encode("ascii") + b":" + data


def _micros(value: datetime | None) -> str | None:
    if value is None:
        return None
    return str((value - _EPOCH) // _MICROSECOND)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_bytes(chain_seq: int, row: Mapping[Any, Any]) -> bytes:
    """The canonical text of an audit row, as the trigger builds it (see migration 0003).

    ``row`` holds the columns by name, ``details`` as PostgreSQL's text of the ``jsonb``
    value (``details::text``), timestamps as aware datetimes.
    """
    fields = (
        str(chain_seq),
        _text(row["audit_id"]),
        _text(row["user_id"]),
        _text(row["event_type"]),
        _micros(row["event_timestamp"]),
        _text(row["email"]),
        _text(row["ip_address"]),
        _text(row["user_agent"]),
        _text(row["success"]),
        _text(row["failure_reason"]),
        _text(row["session_id"]),
        _text(row["details"]),
    )
    return CANONICAL_VERSION + b"".join(_field(value) for value in fields)


def row_hash(prev_hash: bytes, chain_seq: int, row: Mapping[Any, Any]) -> bytes:
    """``sha256(prev_hash || canonical text)``: the hash the trigger stores for ``row``."""
    return hashlib.sha256(prev_hash + canonical_bytes(chain_seq, row)).digest()


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain first fails to verify.

    Attributes:
        chain_seq: position of the first bad row (or where a missing row should be).
        audit_id: that row's id, None when the row is missing.
        reason: what is wrong, in words.
    """

    chain_seq: int | None
    audit_id: int | None
    reason: str

    def describe(self) -> str:
        """One line naming the row."""
        where = f"audit_id {self.audit_id}" if self.audit_id is not None else "a missing row"
        return f"chain broken at chain_seq {self.chain_seq} ({where}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    rows_checked: int
    anchor_seq: int
    last_seq: int
    purged_rows: int
    first_break: ChainBreak | None = field(default=None)

    @property
    def ok(self) -> bool:
        """True when every row verified and nothing is missing."""
        return self.first_break is None


_HEAD = text(
    "SELECT anchor_seq, anchor_hash, last_seq, last_hash, purged_rows "
    "FROM auth.audit_chain_head WHERE head_id = 1"
)
_CHAIN_ROWS = text(
    """
    SELECT chain_seq, audit_id, user_id, event_type, event_timestamp, email, ip_address,
           user_agent, success, failure_reason, session_id, details::text AS details,
           prev_hash, row_hash
    FROM auth.audit_logs
    WHERE chain_seq IS NULL OR chain_seq <= :last_seq
    ORDER BY chain_seq NULLS FIRST, audit_id
    """
).execution_options(yield_per=5000)


def verify_chain(session: Session) -> ChainReport:
    """Recompute the whole chain and report the first row that does not verify.

    The head is read first and rows after its ``last_seq`` (committed meanwhile) are left
    for the next run, so writers may keep writing during a verification.

    Raises:
        DataError: the chain head row is missing (which is itself a break, reported as one
            by the CLI).
    """
    head = session.execute(_HEAD).mappings().first()
    if head is None:
        raise DataError(
            "auth.audit_chain_head has no row: the audit chain cannot be verified",
            hint="the chain head was deleted; restore it from a backup",
        )
    anchor_seq, last_seq = int(head["anchor_seq"]), int(head["last_seq"])
    expected_seq, expected_prev = anchor_seq + 1, bytes(head["anchor_hash"])
    checked = 0
    first_break: ChainBreak | None = None
    for row in session.execute(_CHAIN_ROWS, {"last_seq": last_seq}).mappings():
        first_break = _check_row(row, expected_seq, expected_prev)
        if first_break is not None:
            break
        checked += 1
        expected_seq, expected_prev = expected_seq + 1, bytes(row["row_hash"])
    if first_break is None and (
        expected_seq != last_seq + 1 or expected_prev != bytes(head["last_hash"])
    ):
        first_break = ChainBreak(
            expected_seq, None, f"rows missing: the chain head ends at chain_seq {last_seq}"
        )
    return ChainReport(
        rows_checked=checked,
        anchor_seq=anchor_seq,
        last_seq=last_seq,
        purged_rows=int(head["purged_rows"]),
        first_break=first_break,
    )


def _check_row(row: Mapping[Any, Any], seq: int, prev: bytes) -> ChainBreak | None:
    audit_id = int(row["audit_id"])
    if row["chain_seq"] is None or row["prev_hash"] is None or row["row_hash"] is None:
        return ChainBreak(seq, audit_id, "the row is not chained (inserted with triggers off)")
    actual_seq = int(row["chain_seq"])
    if actual_seq != seq:
        return ChainBreak(
            actual_seq, audit_id, f"chain_seq {seq} is missing before this row (deleted?)"
        )
    if bytes(row["prev_hash"]) != prev:
        return ChainBreak(seq, audit_id, "prev_hash is not the previous row's hash")
    if row_hash(prev, seq, row) != bytes(row["row_hash"]):
        return ChainBreak(seq, audit_id, "row_hash does not match the row's fields (changed)")
    return None


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
    return int(deleted)
