"""Make auth.audit_logs append-only for everyone, the owner included.

Triggers refuse UPDATE and DELETE of any row and TRUNCATE of the table (security
requirement S18). The trigger function pins its ``search_path`` and is not executable
by PUBLIC.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the refusing trigger function and its row and statement triggers."""
    op.execute(
        """
        CREATE FUNCTION auth.refuse_audit_change() RETURNS trigger
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
    )
    op.execute("REVOKE EXECUTE ON FUNCTION auth.refuse_audit_change() FROM PUBLIC")
    op.execute(
        "COMMENT ON FUNCTION auth.refuse_audit_change() IS "
        "'Trigger function: refuses UPDATE, DELETE and TRUNCATE of audit rows (S18)'"
    )
    op.execute(
        """
        CREATE TRIGGER audit_logs_append_only_row
        BEFORE UPDATE OR DELETE ON auth.audit_logs
        FOR EACH ROW EXECUTE FUNCTION auth.refuse_audit_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_logs_append_only_truncate
        BEFORE TRUNCATE ON auth.audit_logs
        FOR EACH STATEMENT EXECUTE FUNCTION auth.refuse_audit_change()
        """
    )


def downgrade() -> None:
    """Drop the triggers and their function."""
    op.execute("DROP TRIGGER audit_logs_append_only_truncate ON auth.audit_logs")
    op.execute("DROP TRIGGER audit_logs_append_only_row ON auth.audit_logs")
    op.execute("DROP FUNCTION auth.refuse_audit_change()")
