"""Audit rows get their id and time from the server; the purge escape is tied to the purge.

- ``auth.audit_logs.audit_id`` is no longer an identity column a writer may fill in: the
  chaining trigger ``auth.audit_chain_row()`` gives every new row the next value of the
  sequence ``auth.audit_logs_audit_id_seq`` (owned by the column, usable by the owner only)
  and ``event_timestamp = pg_catalog.clock_timestamp()`` read after the chain head lock, so
  timestamps follow chain order. Whatever the inserter gave for either is overwritten: a
  backdated event or a pre-inserted id can no longer be planted (S19).
- ``auth.audit_chain_head.purge_txid`` holds the id of the transaction in which
  ``auth.purge_audit_logs`` is deleting, and is cleared before the function returns. The
  append-only trigger function (now SECURITY DEFINER, so it can read the head) lets a
  DELETE through only when that column names the current transaction, which no role but
  the owner can arrange; the old escape, a ``medz1.audit_purge`` setting any session could
  set, is gone (S18, S21).
- Every built-in these functions call is schema-qualified (``pg_catalog.sha256``, ...),
  every SECURITY DEFINER function pins ``search_path = pg_catalog, pg_temp`` and names
  its objects with their schema, and none is executable by PUBLIC (S23).

The row hash is unchanged (see revision 0003), so rows chained before this revision still
verify.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Audit rows younger than this are never deleted, whatever the caller asks (S21).
_MIN_RETENTION_DAYS = 2192
_AUDITOR = "medz1_auditor"
_SEQUENCE = "auth.audit_logs_audit_id_seq"


def _field(expression: str) -> str:
    """SQL for one length-prefixed field of the canonical text; ``-`` for NULL."""
    return f"coalesce(pg_catalog.octet_length({expression}) || ':' || {expression}, '-')"


def _row_hash(record: str, seq: str, prev: str) -> str:
    """SQL computing the row hash of ``record`` at ``seq`` after ``prev`` (as in 0003)."""
    text_ = "::pg_catalog.text"
    fields = [
        f"{seq}{text_}",
        f"{record}.audit_id{text_}",
        f"{record}.user_id{text_}",
        f"{record}.event_type{text_}",
        f"(pg_catalog.extract('epoch', {record}.event_timestamp) * 1000000)"
        f"::pg_catalog.int8{text_}",
        f"{record}.email{text_}",
        f"{record}.ip_address{text_}",
        f"{record}.user_agent",
        f"{record}.success{text_}",
        f"{record}.failure_reason",
        f"{record}.session_id{text_}",
        f"{record}.details{text_}",
    ]
    canonical = " || ".join(["'medz1-audit-v1'", *(_field(f) for f in fields)])
    return f"pg_catalog.sha256({prev} || pg_catalog.convert_to({canonical}, 'UTF8'))"


_CHAIN_FUNCTION = f"""
CREATE OR REPLACE FUNCTION auth.audit_chain_row() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_seq pg_catalog.int8;
    head_hash pg_catalog.bytea;
BEGIN
    -- The row lock is held until the inserting transaction ends: concurrent writers queue
    -- here, so chain order is commit order and a rollback gives its number back.
    SELECT h.last_seq, h.last_hash INTO head_seq, head_hash
    FROM auth.audit_chain_head AS h WHERE h.head_id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auth.audit_chain_head has no row, so audit rows cannot be chained'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'restore the chain head; run `medz1 audit verify`';
    END IF;
    -- The server, not the writer, says which row this is and when it was written.
    NEW.audit_id := pg_catalog.nextval('{_SEQUENCE}'::pg_catalog.regclass);
    NEW.event_timestamp := pg_catalog.clock_timestamp();
    NEW.chain_seq := head_seq + 1;
    NEW.prev_hash := head_hash;
    NEW.row_hash := {_row_hash("NEW", "NEW.chain_seq", "head_hash")};
    UPDATE auth.audit_chain_head
    SET last_seq = NEW.chain_seq, last_hash = NEW.row_hash,
        updated_at = pg_catalog.clock_timestamp()
    WHERE head_id = 1;
    RETURN NEW;
END;
$$
"""

_REFUSE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION auth.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Only auth.purge_audit_logs writes purge_txid (the owner alone may write the
        -- head), and it clears it before returning: a DELETE passes only inside that
        -- function's run, and even then nothing younger than the legal minimum goes.
        IF EXISTS (SELECT 1 FROM auth.audit_chain_head AS h
                   WHERE h.head_id = 1
                     AND h.purge_txid = pg_catalog.txid_current())
           AND OLD.event_timestamp
               < pg_catalog.now() - pg_catalog.make_interval(days => {_MIN_RETENTION_DAYS}) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'auth.audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows are never changed or deleted';
END;
$$
"""

_PURGE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION auth.purge_audit_logs(retention_days integer) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff pg_catalog.timestamptz;
    through_seq pg_catalog.int8;
    through_hash pg_catalog.bytea;
    deleted pg_catalog.int8;
BEGIN
    IF retention_days IS NULL OR retention_days < {_MIN_RETENTION_DAYS} THEN
        RAISE EXCEPTION 'audit rows are kept at least {_MIN_RETENTION_DAYS} days'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'pass a retention of {_MIN_RETENTION_DAYS} days or more';
    END IF;
    cutoff := pg_catalog.now() - pg_catalog.make_interval(days => retention_days);
    -- Writers wait while the purge runs; the chain cannot move under it.
    PERFORM 1 FROM auth.audit_chain_head AS h WHERE h.head_id = 1 FOR UPDATE;
    -- Only a prefix of the chain may go, or the rest would no longer verify: stop before
    -- the first row that is young enough (or undated) to be kept.
    SELECT coalesce(pg_catalog.min(l.chain_seq),
                    (SELECT h.last_seq + 1 FROM auth.audit_chain_head AS h
                     WHERE h.head_id = 1)) - 1
    INTO through_seq
    FROM auth.audit_logs AS l
    WHERE l.event_timestamp IS NULL OR l.event_timestamp >= cutoff;
    SELECT l.row_hash INTO through_hash FROM auth.audit_logs AS l
    WHERE l.chain_seq = through_seq;
    IF through_hash IS NULL THEN
        RETURN 0;
    END IF;
    UPDATE auth.audit_chain_head SET purge_txid = pg_catalog.txid_current()
    WHERE head_id = 1;
    DELETE FROM auth.audit_logs AS l WHERE l.chain_seq <= through_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    UPDATE auth.audit_chain_head
    SET purge_txid = NULL, anchor_seq = through_seq, anchor_hash = through_hash,
        purged_rows = purged_rows + deleted, updated_at = pg_catalog.clock_timestamp()
    WHERE head_id = 1;
    INSERT INTO auth.audit_logs (event_type, success, details)
    VALUES ('audit_purged', true,
            pg_catalog.jsonb_build_object('rows', deleted, 'through_seq', through_seq,
                                          'retention_days', retention_days));
    RETURN deleted;
END;
$$
"""


def _own_sequence() -> None:
    """Replace the identity of ``audit_id`` by a sequence only the trigger draws from."""
    op.execute("ALTER TABLE auth.audit_logs ALTER COLUMN audit_id DROP IDENTITY")
    op.execute(f"CREATE SEQUENCE {_SEQUENCE} AS bigint OWNED BY auth.audit_logs.audit_id")
    op.execute(
        f"SELECT pg_catalog.setval('{_SEQUENCE}', "
        "coalesce((SELECT pg_catalog.max(audit_id) FROM auth.audit_logs), 0) + 1, false)"
    )
    op.execute(f"REVOKE ALL ON SEQUENCE {_SEQUENCE} FROM PUBLIC")
    op.alter_column(
        "audit_logs",
        "audit_id",
        existing_type=sa.BigInteger(),
        comment="Audit row id, assigned by the insert trigger from auth.audit_logs_audit_id_seq; "
        "a value given by the writer is overwritten",
        existing_comment="Audit row id (identity)",
        schema="auth",
    )


def _identity_again() -> None:
    op.execute(f"DROP SEQUENCE {_SEQUENCE}")
    op.execute(
        """
        DO $$
        DECLARE next_id bigint;
        BEGIN
            SELECT coalesce(max(audit_id), 0) + 1 INTO next_id FROM auth.audit_logs;
            EXECUTE format('ALTER TABLE auth.audit_logs ALTER COLUMN audit_id '
                           'ADD GENERATED BY DEFAULT AS IDENTITY (START WITH %s)', next_id);
        END $$
        """
    )
    op.alter_column(
        "audit_logs",
        "audit_id",
        existing_type=sa.BigInteger(),
        comment="Audit row id (identity)",
        existing_comment="Audit row id, assigned by the insert trigger from "
        "auth.audit_logs_audit_id_seq; a value given by the writer is overwritten",
        schema="auth",
    )


_EVENT_TIMESTAMP_COMMENT = (
    "When the event was written (UTC), set by the insert trigger from the server clock; a "
    "value given by the writer is overwritten"
)


def upgrade() -> None:
    """Server-assigned ids and times, a purge token, qualified and pinned functions."""
    _own_sequence()
    op.alter_column(
        "audit_logs",
        "event_timestamp",
        existing_type=sa.DateTime(timezone=True),
        comment=_EVENT_TIMESTAMP_COMMENT,
        existing_comment="When the event happened (UTC)",
        schema="auth",
    )
    op.add_column(
        "audit_chain_head",
        sa.Column(
            "purge_txid",
            sa.BigInteger(),
            nullable=True,
            comment="Transaction id of a running auth.purge_audit_logs (null otherwise): the "
            "only transaction whose deletes the append-only trigger lets through",
        ),
        schema="auth",
    )
    op.execute(_CHAIN_FUNCTION)
    op.execute(_REFUSE_FUNCTION)
    op.execute(
        "COMMENT ON FUNCTION auth.refuse_audit_change() IS "
        "'Trigger function: refuses UPDATE, DELETE and TRUNCATE of audit rows, except the "
        "deletes of a running auth.purge_audit_logs (S18, S21)'"
    )
    op.execute(_PURGE_FUNCTION)
    for signature in (
        "auth.audit_chain_row()",
        "auth.refuse_audit_change()",
        "auth.purge_audit_logs(integer)",
    ):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    """Restore revision 0003's functions, the identity column and the head without token."""
    v3 = importlib.import_module("medz1.migrations.versions.0003_auth_store")
    op.execute(str(v3._CHAIN_FUNCTION).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(str(v3._REFUSE_WITH_PURGE))
    op.execute(
        "COMMENT ON FUNCTION auth.refuse_audit_change() IS "
        "'Trigger function: refuses UPDATE, DELETE and TRUNCATE of audit rows (S18)'"
    )
    op.execute(str(v3._PURGE_FUNCTION).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.drop_column("audit_chain_head", "purge_txid", schema="auth")
    op.alter_column(
        "audit_logs",
        "event_timestamp",
        existing_type=sa.DateTime(timezone=True),
        comment="When the event happened (UTC)",
        existing_comment=_EVENT_TIMESTAMP_COMMENT,
        schema="auth",
    )
    _identity_again()
