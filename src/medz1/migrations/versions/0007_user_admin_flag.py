"""Administrators of the service: ``auth.users.is_admin``.

An administrator may open the service's administration pages (users, sessions, the audit
log); every other user gets 403 there, audited. The flag is set with
``medz1 users set-admin EMAIL`` (``--revoke`` clears it), which writes a ``user_updated``
audit row. Existing users are not administrators.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = "True for administrators of the service (users, sessions and audit log pages)"


def upgrade() -> None:
    """Add the administrator flag, false for every existing user."""
    op.add_column(
        "users",
        sa.Column(
            "is_admin",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment=COMMENT,
        ),
        schema="auth",
    )


def downgrade() -> None:
    """Drop the administrator flag."""
    op.drop_column("users", "is_admin", schema="auth")
