"""Verifying the audit hash chain and its signed checkpoints (S19).

:func:`verify_chain` reads the chain head and every audit row in one statement (one
snapshot, so writers may keep writing), recomputes each row's hash in Python from its
fields, and, given the checkpoint log, compares every signed checkpoint of the current
epoch with the rows: a checkpoint beyond the newest row is a rewind, one whose hash differs
from the row's is a rewrite, a line whose signature fails is a forgery, and a missing log
while the key exists and the table has rows is a deleted log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.auth.checkpoints import Checkpoint, CheckpointLog, CheckpointScan
from medz1.auth.config import MIN_AUDIT_RETENTION_DAYS
from medz1.errors import DataError

__all__ = [
    "CANONICAL_VERSION",
    "GENESIS_HASH",
    "ChainBreak",
    "ChainReport",
    "canonical_bytes",
    "row_hash",
    "verify_chain",
]

CANONICAL_VERSION = b"medz1-audit-v1"
"""First bytes of the canonical text of a row; a new encoding gets a new version."""
GENESIS_HASH = bytes(32)
"""The anchor of a chain from which nothing was ever purged."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: A checkpoint younger than this covers rows no lawful purge removes (the day spares
#: clock differences between the writer and the server).
_RETENTION = timedelta(days=MIN_AUDIT_RETENTION_DAYS - 1)


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
        audit_id: that row's id, None when the row is missing or the fault is elsewhere.
        reason: what is wrong, in words.
        kind: ``row`` (a row does not verify or is missing), ``rewind`` (a checkpoint is
            beyond the newest row), ``rewrite`` (a row's hash differs from its checkpoint),
            ``forged_checkpoint`` (a checkpoint line fails its signature),
            ``checkpoints_missing`` (the checkpoint log was deleted) or ``purged_early``
            (rows checkpointed within the retention period are gone as purged).
    """

    chain_seq: int | None
    audit_id: int | None
    reason: str
    kind: str = "row"

    def describe(self) -> str:
        """One line naming the row or the checkpoint."""
        if self.kind != "row":
            where = "" if self.chain_seq is None else f" at chain_seq {self.chain_seq}"
            return f"audit trail tampered ({self.kind}){where}: {self.reason}"
        where = f"audit_id {self.audit_id}" if self.audit_id is not None else "a missing row"
        return f"chain broken at chain_seq {self.chain_seq} ({where}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    ``checkpoints_checked`` counts the checkpoints of the current epoch compared with the
    rows; ``checkpoint_seq`` is the newest of them (None: none). ``checkpoints_used`` is
    False when no checkpoint log was given (no key).
    """

    rows_checked: int
    anchor_seq: int
    last_seq: int
    purged_rows: int
    first_break: ChainBreak | None = field(default=None)
    checkpoints_used: bool = False
    checkpoints_checked: int = 0
    checkpoint_seq: int | None = None

    @property
    def ok(self) -> bool:
        """True when every row verified, nothing is missing and every checkpoint matches."""
        return self.first_break is None


# One statement, so the head and the rows come from one snapshot; the LEFT JOIN keeps the
# head when there are no rows.
_CHAIN_ROWS = text(
    """
    SELECT h.anchor_seq, h.anchor_hash, h.last_seq, h.last_hash, h.purged_rows,
           pg_catalog.current_database() AS database,
           l.chain_seq, l.audit_id, l.user_id, l.event_type, l.event_timestamp, l.email,
           l.ip_address, l.user_agent, l.success, l.failure_reason, l.session_id,
           l.details::pg_catalog.text AS details, l.prev_hash, l.row_hash
    FROM auth.audit_chain_head AS h
    LEFT JOIN auth.audit_logs AS l ON true
    WHERE h.head_id = 1
    ORDER BY l.chain_seq NULLS FIRST, l.audit_id
    """
).execution_options(yield_per=5000)


@dataclass
class _Walk:
    """State of one pass over the rows."""

    head: Mapping[Any, Any] | None = None
    checked: int = 0
    max_seq: int = 0
    first_break: ChainBreak | None = None
    hashes: dict[int, bytes] = field(default_factory=dict)


def verify_chain(session: Session, *, checkpoints: CheckpointLog | None = None) -> ChainReport:
    """Recompute the whole chain, every row, and report the first fault.

    With ``checkpoints`` (the log and its key), its lines are checked too: a bad signature,
    a checkpoint beyond the newest row (rewind), a row whose hash differs from the
    checkpoint at its ``chain_seq`` (rewrite), and a missing log while the table has rows.
    Row faults are reported first (they name the row), then checkpoint faults.

    Raises:
        DataError: the chain head row is missing (which is itself a break, reported as one
            by the CLI).
        ConfigurationError: the checkpoint log exists but cannot be read.
    """
    walk = _Walk()
    database: str | None = None
    scan: CheckpointScan | None = None
    wanted: set[int] = set()
    expected_seq, expected_prev = 0, b""
    for row in session.execute(_CHAIN_ROWS).mappings():
        if walk.head is None:
            walk.head = row
            database = str(row["database"])
            if checkpoints is not None:
                scan = checkpoints.scan(database)
                wanted = {point.seq for point in scan.current}
            expected_seq, expected_prev = int(row["anchor_seq"]) + 1, bytes(row["anchor_hash"])
        if row["audit_id"] is None:
            continue  # the LEFT JOIN's row of an empty table
        if row["chain_seq"] is not None:
            walk.max_seq = max(walk.max_seq, int(row["chain_seq"]))
            if int(row["chain_seq"]) in wanted:
                walk.hashes[int(row["chain_seq"])] = bytes(row["row_hash"])
        if walk.first_break is None:
            walk.first_break = _check_row(row, expected_seq, expected_prev)
            if walk.first_break is None:
                walk.checked += 1
                expected_seq, expected_prev = expected_seq + 1, bytes(row["row_hash"])
    head = walk.head
    if head is None:
        raise DataError(
            "auth.audit_chain_head has no row: the audit chain cannot be verified",
            hint="the chain head was deleted; restore it from a backup",
        )
    last_seq = int(head["last_seq"])
    if walk.first_break is None:
        walk.first_break = _check_end(head, expected_seq, expected_prev)
    if walk.first_break is None and scan is not None:
        walk.first_break = _check_checkpoints(scan, head, walk)
    newest = max((p.seq for p in scan.current), default=None) if scan else None
    return ChainReport(
        rows_checked=walk.checked,
        anchor_seq=int(head["anchor_seq"]),
        last_seq=last_seq,
        purged_rows=int(head["purged_rows"]),
        first_break=walk.first_break,
        checkpoints_used=scan is not None,
        checkpoints_checked=len(scan.current) if scan else 0,
        checkpoint_seq=newest,
    )


def _check_end(
    head: Mapping[str, Any], expected_seq: int, expected_prev: bytes
) -> ChainBreak | None:
    last_seq = int(head["last_seq"])
    if expected_seq - 1 > last_seq:
        return ChainBreak(
            last_seq + 1,
            None,
            f"rows after the chain head's last chain_seq {last_seq} exist (the head was "
            "moved back)",
        )
    if expected_seq != last_seq + 1 or expected_prev != bytes(head["last_hash"]):
        return ChainBreak(
            expected_seq, None, f"rows missing: the chain head ends at chain_seq {last_seq}"
        )
    return None


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


def _when(point: Checkpoint) -> str:
    return f"line {point.line}, written {point.at.isoformat(timespec='seconds')}"


def _check_checkpoints(
    scan: CheckpointScan, head: Mapping[Any, Any], walk: _Walk
) -> ChainBreak | None:
    if scan.bad_line is not None:
        return ChainBreak(None, None, f"checkpoint log {scan.bad_reason}", "forged_checkpoint")
    rows_exist = walk.max_seq > 0 or int(head["anchor_seq"]) > 0
    if not scan.current:
        if not rows_exist:
            return None
        what = "is missing" if not scan.exists else "has no checkpoint of this database"
        return ChainBreak(
            None,
            None,
            f"the checkpoint log {what} although the key exists and audit rows do (deleted?)",
            "checkpoints_missing",
        )
    start = scan.current[0]
    if start.kind == "epoch" and start.reason == "file-missing":
        return ChainBreak(
            start.seq,
            None,
            f"the checkpoint log was deleted and started again ({_when(start)}); the "
            "checkpoints written before are lost",
            "checkpoints_missing",
        )
    anchor_seq, anchor_hash = int(head["anchor_seq"]), bytes(head["anchor_hash"])
    now = datetime.now(UTC)
    for point in sorted(scan.current, key=lambda p: p.seq):
        if point.seq > walk.max_seq and point.seq > anchor_seq:
            return ChainBreak(
                point.seq,
                None,
                f"a signed checkpoint ({_when(point)}) covers chain_seq {point.seq} but the "
                f"newest row is chain_seq {walk.max_seq}: the newest rows were removed",
                "rewind",
            )
        stored = anchor_hash if point.seq == anchor_seq else walk.hashes.get(point.seq)
        if point.seq < anchor_seq:
            # Purged by retention; the anchor and later checkpoints cover the rest. A row
            # checkpointed within the retention period cannot have been purged lawfully.
            if point.at > now - _RETENTION:
                return ChainBreak(
                    point.seq,
                    None,
                    f"rows up to chain_seq {anchor_seq} are gone as purged, but a signed "
                    f"checkpoint ({_when(point)}) shows chain_seq {point.seq} is younger than "
                    f"{MIN_AUDIT_RETENTION_DAYS} days",
                    "purged_early",
                )
            continue
        if stored is None or stored != point.row_hash:
            return ChainBreak(
                point.seq,
                None,
                f"the row at chain_seq {point.seq} differs from its signed checkpoint "
                f"({_when(point)}): it or an earlier row was rewritten",
                "rewrite",
            )
    return None
