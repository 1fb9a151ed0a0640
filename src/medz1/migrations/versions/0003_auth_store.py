"""Authentication store: lock and disable state, hashed session tokens, audit hash chain.

``auth.users`` gains ``locked_until``, ``password_changed_at``, ``disabled_at``,
``disabled_reason`` and ``enabled_at``. ``auth.sessions`` gains ``token_hash`` (SHA-256 of
the token, unique; the token itself is never stored, S12) and ``absolute_expires_at``;
sessions that exist before this revision have no token medz1 could check, so they are
ended (``is_active`` false) and given a random hash.

``auth.audit_logs`` gains ``chain_seq``, ``prev_hash``, ``row_hash`` and ``details``. A
``BEFORE INSERT`` trigger, ``audit_logs_chain``, chains every new row whoever inserts it
(med-z1's own INSERT included): under the row lock of the one-row table
``auth.audit_chain_head`` it gives the row the next ``chain_seq``, the previous row's hash as
``prev_hash``, and ``row_hash = sha256(prev_hash || canonical text of the row)`` (S19).
Because the lock is held until commit, chain order is commit order and a rolled-back insert
leaves no gap. Rows that exist before this revision are chained once, in
``(event_timestamp, audit_id)`` order.

The canonical text is ``medz1-audit-v1`` followed by each field as ``<octets>:<text>`` (``-``
for NULL), in this order: chain_seq, audit_id, user_id, event_type, event_timestamp (as
microseconds since the Unix epoch), email, ip_address, user_agent, success
(``true``/``false``), failure_reason, session_id, details (``jsonb`` text).
``medz1.auth.audit.canonical_bytes`` is the same encoding in Python.

Retention (S21): ``auth.purge_audit_logs(retention_days)`` (SECURITY DEFINER, executable by
``medz1_auditor`` only) deletes the oldest rows of the chain, all older than
``retention_days`` (at least 2,192 days), records the last deleted row's hash as the chain's
new anchor and appends an ``audit_purged`` row. The append-only trigger function lets those
deletes through only inside that function's transaction and only for rows older than 2,192
days; UPDATE and TRUNCATE stay refused for everyone.

Every function pins ``search_path`` and is not executable by PUBLIC.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The anchor of an empty chain: 32 zero bytes.
_GENESIS = "decode(repeat('00', 32), 'hex')"
#: Audit rows younger than this are never deleted, whatever the caller asks (S21).
_MIN_RETENTION_DAYS = 2192
_AUDITOR = "medz1_auditor"


def _field(expression: str) -> str:
    """SQL for one length-prefixed field of the canonical text; ``-`` for NULL."""
    return f"coalesce(octet_length({expression}) || ':' || {expression}, '-')"


def _row_hash(record: str, seq: str, prev: str) -> str:
    """SQL computing the row hash of ``record`` at chain position ``seq`` after ``prev``."""
    fields = [
        f"{seq}::text",
        f"{record}.audit_id::text",
        f"{record}.user_id::text",
        f"{record}.event_type::text",
        f"(extract(epoch FROM {record}.event_timestamp) * 1000000)::bigint::text",
        f"{record}.email::text",
        f"{record}.ip_address::text",
        f"{record}.user_agent",
        f"{record}.success::text",
        f"{record}.failure_reason",
        f"{record}.session_id::text",
        f"{record}.details::text",
    ]
    canonical = " || ".join(["'medz1-audit-v1'", *(_field(f) for f in fields)])
    return f"sha256({prev} || convert_to({canonical}, 'UTF8'))"


_CHAIN_FUNCTION = f"""
CREATE FUNCTION auth.audit_chain_row() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_seq bigint;
    head_hash bytea;
BEGIN
    -- The row lock is held until the inserting transaction ends: concurrent writers queue
    -- here, so chain order is commit order and a rollback gives its number back.
    SELECT last_seq, last_hash INTO head_seq, head_hash
    FROM auth.audit_chain_head WHERE head_id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'auth.audit_chain_head has no row, so audit rows cannot be chained'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'restore the chain head; run `medz1 audit verify`';
    END IF;
    NEW.chain_seq := head_seq + 1;
    NEW.prev_hash := head_hash;
    NEW.row_hash := {_row_hash("NEW", "NEW.chain_seq", "head_hash")};
    UPDATE auth.audit_chain_head
    SET last_seq = NEW.chain_seq, last_hash = NEW.row_hash, updated_at = clock_timestamp()
    WHERE head_id = 1;
    RETURN NEW;
END;
$$
"""

_BACKFILL = f"""
DO $$
DECLARE
    r record;
    seq bigint := 0;
    h bytea := {_GENESIS};
BEGIN
    FOR r IN SELECT * FROM auth.audit_logs ORDER BY event_timestamp NULLS FIRST, audit_id LOOP
        seq := seq + 1;
        UPDATE auth.audit_logs
        SET chain_seq = seq, prev_hash = h, row_hash = {_row_hash("r", "seq", "h")}
        WHERE audit_id = r.audit_id
        RETURNING row_hash INTO h;
    END LOOP;
    UPDATE auth.audit_chain_head SET last_seq = seq, last_hash = h WHERE head_id = 1;
END;
$$
"""

_REFUSE_WITH_PURGE = f"""
CREATE OR REPLACE FUNCTION auth.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Only auth.purge_audit_logs sets this flag (transaction-local), and even then
        -- nothing younger than the legal minimum goes.
        IF current_setting('medz1.audit_purge', true) = 'on'
           AND OLD.event_timestamp < now() - interval '{_MIN_RETENTION_DAYS} days' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'auth.audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows are never changed or deleted';
END;
$$
"""

_REFUSE_ORIGINAL = """
CREATE OR REPLACE FUNCTION auth.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'auth.audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows are never changed or deleted';
END;
$$
"""

_PURGE_FUNCTION = f"""
CREATE FUNCTION auth.purge_audit_logs(retention_days integer) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    through_seq bigint;
    through_hash bytea;
    deleted bigint;
BEGIN
    IF retention_days IS NULL OR retention_days < {_MIN_RETENTION_DAYS} THEN
        RAISE EXCEPTION 'audit rows are kept at least {_MIN_RETENTION_DAYS} days'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'pass a retention of {_MIN_RETENTION_DAYS} days or more';
    END IF;
    cutoff := now() - make_interval(days => retention_days);
    -- Writers wait while the purge runs; the chain cannot move under it.
    PERFORM 1 FROM auth.audit_chain_head WHERE head_id = 1 FOR UPDATE;
    -- Only a prefix of the chain may go, or the rest would no longer verify: stop before
    -- the first row that is young enough (or undated) to be kept.
    SELECT coalesce(min(chain_seq), (SELECT last_seq + 1 FROM auth.audit_chain_head
                                     WHERE head_id = 1)) - 1
    INTO through_seq
    FROM auth.audit_logs WHERE event_timestamp IS NULL OR event_timestamp >= cutoff;
    SELECT row_hash INTO through_hash FROM auth.audit_logs WHERE chain_seq = through_seq;
    IF through_hash IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('medz1.audit_purge', 'on', true);
    DELETE FROM auth.audit_logs WHERE chain_seq <= through_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('medz1.audit_purge', 'off', true);
    UPDATE auth.audit_chain_head
    SET anchor_seq = through_seq, anchor_hash = through_hash,
        purged_rows = purged_rows + deleted, updated_at = clock_timestamp()
    WHERE head_id = 1;
    INSERT INTO auth.audit_logs (event_type, event_timestamp, success, details)
    VALUES ('audit_purged', now(), true,
            jsonb_build_object('rows', deleted, 'through_seq', through_seq,
                               'retention_days', retention_days));
    RETURN deleted;
END;
$$
"""


def _users_columns() -> None:
    op.add_column(
        "users",
        sa.Column(
            "locked_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End of the lockout after too many failed logins (UTC); null with is_locked "
            "true means locked until an administrator unlocks",
        ),
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column(
            "password_changed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the password was last set or changed (UTC)",
        ),
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column(
            "disabled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the account was disabled (UTC); null while active",
        ),
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column(
            "disabled_reason",
            sa.String(length=100),
            nullable=True,
            comment="Why the account was disabled, e.g. dormant or administrator",
        ),
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column(
            "enabled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a disabled account was last enabled again (UTC); restarts the "
            "dormancy clock",
        ),
        schema="auth",
    )


def _sessions_columns() -> None:
    op.add_column(
        "sessions",
        sa.Column(
            "token_hash",
            postgresql.BYTEA(),
            nullable=True,
            comment="SHA-256 of the session token; the token itself is never stored, so this "
            "table can leak without leaking sessions (S12)",
        ),
        schema="auth",
    )
    op.add_column(
        "sessions",
        sa.Column(
            "absolute_expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the session ends however active it is (UTC): login time plus the "
            "absolute timeout; expires_at never passes it",
        ),
        schema="auth",
    )
    # Sessions from before have no token medz1 could check: end them.
    op.execute(
        "UPDATE auth.sessions SET is_active = false, absolute_expires_at = expires_at, "
        "token_hash = sha256(convert_to(gen_random_uuid()::text || session_id::text, 'UTF8'))"
    )
    op.alter_column("sessions", "token_hash", nullable=False, schema="auth")
    op.alter_column("sessions", "absolute_expires_at", nullable=False, schema="auth")
    op.create_unique_constraint(
        op.f("uq_sessions_token_hash"), "sessions", ["token_hash"], schema="auth"
    )
    op.create_check_constraint(
        op.f("ck_sessions_token_hash_is_sha256"),
        "sessions",
        "octet_length(token_hash) = 32",
        schema="auth",
    )
    op.alter_column(
        "sessions",
        "expires_at",
        existing_type=sa.DateTime(timezone=True),
        existing_nullable=False,
        comment="When the session expires unless used again (UTC): last activity plus the "
        "idle timeout, never later than absolute_expires_at",
        existing_comment="When the session expires at the latest (UTC)",
        schema="auth",
    )


def _chain_head() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column(
            "head_id",
            sa.SmallInteger(),
            autoincrement=False,
            nullable=False,
            comment="Always 1: the table holds one row",
        ),
        sa.Column(
            "last_seq",
            sa.BigInteger(),
            nullable=False,
            comment="chain_seq of the newest audit row (0 before the first)",
        ),
        sa.Column(
            "last_hash",
            postgresql.BYTEA(),
            nullable=False,
            comment="row_hash of the newest audit row (the anchor before the first)",
        ),
        sa.Column(
            "anchor_seq",
            sa.BigInteger(),
            nullable=False,
            comment="chain_seq of the last row removed by a retention purge (0: none purged); "
            "the oldest remaining row follows it",
        ),
        sa.Column(
            "anchor_hash",
            postgresql.BYTEA(),
            nullable=False,
            comment="row_hash of the last purged row, or 32 zero bytes: the prev_hash the "
            "oldest remaining row must carry",
        ),
        sa.Column(
            "purged_rows",
            sa.BigInteger(),
            nullable=False,
            comment="Audit rows removed by retention purges so far",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the head last moved (UTC)",
        ),
        sa.CheckConstraint("head_id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("head_id", name=op.f("pk_audit_chain_head")),
        schema="auth",
        comment="Head of the audit hash chain (one row): the last chained row, locked by every "
        "audit insert so chain order is commit order, and the anchor left by retention "
        "purges; written only by the audit trigger and purge functions",
    )
    op.execute(
        "INSERT INTO auth.audit_chain_head "
        "(head_id, last_seq, last_hash, anchor_seq, anchor_hash, purged_rows, updated_at) "
        f"VALUES (1, 0, {_GENESIS}, 0, {_GENESIS}, 0, now())"
    )


def _audit_columns() -> None:
    for name, type_, comment in (
        (
            "chain_seq",
            sa.BigInteger(),
            "Position in the hash chain (1, 2, ...), assigned by the insert trigger under the "
            "lock of auth.audit_chain_head, so chain order is commit order (S19)",
        ),
        (
            "prev_hash",
            postgresql.BYTEA(),
            "row_hash of the previous row of the chain (the chain head's anchor for the first "
            "row); set by the insert trigger",
        ),
        (
            "row_hash",
            postgresql.BYTEA(),
            "SHA-256 of prev_hash and a canonical text of this row's fields; set by the insert "
            "trigger; `medz1 audit verify` recomputes it",
        ),
    ):
        op.add_column(
            "audit_logs", sa.Column(name, type_, nullable=True, comment=comment), schema="auth"
        )
    op.add_column(
        "audit_logs",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Event details as JSON (who acted, why a session ended, hash schemes, ...); "
            "never a password or token",
        ),
        schema="auth",
    )


def _chain_existing_rows() -> None:
    # A one-time rewrite of rows that predate the chain: the append-only trigger is off
    # for this statement only, inside the migration's transaction.
    op.execute("ALTER TABLE auth.audit_logs DISABLE TRIGGER audit_logs_append_only_row")
    op.execute(_BACKFILL)
    op.execute("ALTER TABLE auth.audit_logs ENABLE TRIGGER audit_logs_append_only_row")
    for name in ("chain_seq", "prev_hash", "row_hash"):
        op.alter_column("audit_logs", name, nullable=False, schema="auth")
    op.create_unique_constraint(
        op.f("uq_audit_logs_chain_seq"), "audit_logs", ["chain_seq"], schema="auth"
    )


def _functions() -> None:
    op.execute(_CHAIN_FUNCTION)
    op.execute("REVOKE EXECUTE ON FUNCTION auth.audit_chain_row() FROM PUBLIC")
    op.execute(
        "COMMENT ON FUNCTION auth.audit_chain_row() IS 'Trigger function: chains each new "
        "audit row (chain_seq, prev_hash, row_hash) under the chain head lock (S19)'"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_chain BEFORE INSERT ON auth.audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION auth.audit_chain_row()"
    )
    op.execute(_REFUSE_WITH_PURGE)
    op.execute("REVOKE EXECUTE ON FUNCTION auth.refuse_audit_change() FROM PUBLIC")
    op.execute(_PURGE_FUNCTION)
    op.execute("REVOKE EXECUTE ON FUNCTION auth.purge_audit_logs(integer) FROM PUBLIC")
    op.execute(
        "COMMENT ON FUNCTION auth.purge_audit_logs(integer) IS 'Deletes the oldest audit "
        f"rows, all older than retention_days (>= {_MIN_RETENTION_DAYS}), keeping the chain "
        "verifiable (S21)'"
    )
    # The role exists whenever medz1 migrates (`medz1 up` creates roles first); a bare
    # migration of a foreign database simply grants nothing.
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_AUDITOR}') THEN
                GRANT EXECUTE ON FUNCTION auth.purge_audit_logs(integer) TO {_AUDITOR};
            END IF;
        END $$
        """
    )


def upgrade() -> None:
    """Add the columns, the chain head, the chain and purge functions and the trigger."""
    _users_columns()
    _sessions_columns()
    _chain_head()
    _audit_columns()
    _chain_existing_rows()
    _functions()


def downgrade() -> None:
    """Remove everything this revision added and restore 0002's trigger function."""
    op.execute("DROP FUNCTION auth.purge_audit_logs(integer)")
    op.execute(_REFUSE_ORIGINAL)
    op.execute("DROP TRIGGER audit_logs_chain ON auth.audit_logs")
    op.execute("DROP FUNCTION auth.audit_chain_row()")
    op.drop_constraint(op.f("uq_audit_logs_chain_seq"), "audit_logs", schema="auth")
    for name in ("details", "row_hash", "prev_hash", "chain_seq"):
        op.drop_column("audit_logs", name, schema="auth")
    op.drop_table("audit_chain_head", schema="auth")
    op.alter_column(
        "sessions",
        "expires_at",
        existing_type=sa.DateTime(timezone=True),
        existing_nullable=False,
        comment="When the session expires at the latest (UTC)",
        schema="auth",
    )
    op.drop_constraint(op.f("ck_sessions_token_hash_is_sha256"), "sessions", schema="auth")
    op.drop_constraint(op.f("uq_sessions_token_hash"), "sessions", schema="auth")
    op.drop_column("sessions", "absolute_expires_at", schema="auth")
    op.drop_column("sessions", "token_hash", schema="auth")
    for name in (
        "enabled_at",
        "disabled_reason",
        "disabled_at",
        "password_changed_at",
        "locked_until",
    ):
        op.drop_column("users", name, schema="auth")
