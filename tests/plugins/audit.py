"""Helpers of the audit tests: history the server clock cannot produce,
and the tampering a database owner or superuser can do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.auth import audit
from medz1.db.engine import unit_of_work
from tests.plugins.auth import Store

# What the table's owner may do (a superuser too): no superuser-only setting needed.
_TRIGGERS_OFF = "ALTER TABLE auth.audit_logs DISABLE TRIGGER USER"
_TRIGGERS_ON = "ALTER TABLE auth.audit_logs ENABLE TRIGGER USER"
_REPLICA = "SET LOCAL session_replication_role = replica"
_COLUMNS = (
    "audit_id, user_id, event_type, event_timestamp, email, ip_address, user_agent, success, "
    "failure_reason, session_id, details"
)


def seed_history(store: Store, timestamps: Sequence[datetime]) -> None:
    """Append rows dated ``timestamps``, chained exactly as the trigger chains them.

    The trigger stamps rows with the server clock, which a test cannot move back years, so
    old rows are written as the superuser with triggers off (rows from before medz1 kept
    its own key, as far as the test database knows).
    """
    with unit_of_work(store.admin) as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        seq, prev = session.execute(
            text("SELECT last_seq, last_hash FROM auth.audit_chain_head")
        ).one()
        prev = bytes(prev)
        for at in timestamps:
            seq += 1
            row: dict[str, Any] = {
                "audit_id": session.execute(
                    text("SELECT nextval('auth.audit_logs_audit_id_seq')")
                ).scalar_one(),
                "user_id": None,
                "event_type": "login_failed",
                "event_timestamp": at,
                "email": f"old{seq}@va.example.org",
                "ip_address": None,
                "user_agent": None,
                "success": False,
                "failure_reason": "wrong_password",
                "session_id": None,
                "details": None,
            }
            digest = audit.row_hash(prev, seq, row)
            session.execute(
                text(
                    f"INSERT INTO auth.audit_logs ({_COLUMNS}, chain_seq, prev_hash, row_hash) "
                    "VALUES (:audit_id, :user_id, :event_type, :event_timestamp, :email, "
                    ":ip_address, :user_agent, :success, :failure_reason, :session_id, "
                    ":details, :chain_seq, :prev_hash, :row_hash)"
                ),
                {**row, "chain_seq": seq, "prev_hash": prev, "row_hash": digest},
            )
            prev = digest
        session.execute(
            text("UPDATE auth.audit_chain_head SET last_seq = :s, last_hash = :h"),
            {"s": seq, "h": prev},
        )


def _triggers_off(session: Session, superuser: bool) -> None:
    # A superuser's way costs no DDL (fast for many trials); the owner's is ALTER TABLE.
    session.execute(text(_REPLICA if superuser else _TRIGGERS_OFF))


def _triggers_on(session: Session, superuser: bool) -> None:
    if not superuser:
        session.execute(text(_TRIGGERS_ON))


def rewrite_from(
    session: Session, seq: int, *, email: str = "forged@va.example.org", superuser: bool = False
) -> None:
    """As the owner (or a superuser) would: change row ``seq`` and recompute it and every
    later row and the head with the trigger's own formula (triggers off meanwhile).
    """
    _triggers_off(session, superuser)
    rows = session.execute(
        text(
            f"SELECT {_COLUMNS.replace('details', 'details::text AS details')}, chain_seq, "
            "prev_hash FROM auth.audit_logs WHERE chain_seq >= :s ORDER BY chain_seq"
        ),
        {"s": seq},
    ).mappings()
    prev: bytes | None = None
    updates = []
    for row in rows:
        values = dict(row)
        if prev is None:
            prev = bytes(values["prev_hash"])
            values["email"] = email
        digest = audit.row_hash(prev, int(values["chain_seq"]), values)
        updates.append({"a": values["audit_id"], "e": values["email"], "p": prev, "h": digest})
        prev = digest
    session.execute(
        text(
            "UPDATE auth.audit_logs SET email = :e, prev_hash = :p, row_hash = :h WHERE audit_id = :a"
        ),
        updates,
    )
    session.execute(text("UPDATE auth.audit_chain_head SET last_hash = :h"), {"h": prev})
    _triggers_on(session, superuser)


def rewind(session: Session, keep: int, *, superuser: bool = False) -> None:
    """As the owner (or a superuser) would: delete every row after chain_seq ``keep`` and
    move the head back to it, so the shortened chain verifies by itself.
    """
    _triggers_off(session, superuser)
    session.execute(text("DELETE FROM auth.audit_logs WHERE chain_seq > :k"), {"k": keep})
    session.execute(
        text(
            "UPDATE auth.audit_chain_head h SET last_seq = :k, "
            "last_hash = coalesce((SELECT row_hash FROM auth.audit_logs WHERE chain_seq = :k), "
            "h.anchor_hash)"
        ),
        {"k": keep},
    )
    _triggers_on(session, superuser)
