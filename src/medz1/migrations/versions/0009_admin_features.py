"""Feature flags with percentage rollout, user and station targets and a kill switch.

``admin.feature_flags`` gains ``rollout_percent`` (0-100, default 100), ``target_users``
(lower-case e-mail addresses) and ``target_stations`` (sta3n) as JSON arrays, ``killed`` (the kill switch)
and ``version`` (raised by every change, so a cached snapshot knows when to reload).
Existing flags keep their meaning: on for everyone or off for everyone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("rollout_percent", "target_users", "target_stations", "killed", "version")


def upgrade() -> None:
    """Add the rollout, targeting, kill switch and version columns with their checks."""
    op.add_column(
        "feature_flags",
        sa.Column(
            "rollout_percent",
            sa.Numeric(5, 2),
            server_default=sa.text("100"),
            nullable=False,
            comment="Share of users (0-100) the flag is on for when enabled, by a stable hash "
            "of flag key and user",
        ),
        schema="admin",
    )
    op.add_column(
        "feature_flags",
        sa.Column(
            "target_users",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="E-mail addresses (lower case) the flag is always on for, a JSON array",
        ),
        schema="admin",
    )
    op.add_column(
        "feature_flags",
        sa.Column(
            "target_stations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="VA station numbers (sta3n, text) the flag is always on for, a JSON array",
        ),
        schema="admin",
    )
    op.add_column(
        "feature_flags",
        sa.Column(
            "killed",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Kill switch: when true the flag is off for everyone, targets included",
        ),
        schema="admin",
    )
    op.add_column(
        "feature_flags",
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("1"),
            nullable=False,
            comment="Grows with every change of any flag; caches reload when the newest differs",
        ),
        schema="admin",
    )
    op.create_check_constraint(
        op.f("ck_feature_flags_rollout_percent_range"),
        "feature_flags",
        "rollout_percent BETWEEN 0 AND 100",
        schema="admin",
    )
    op.create_check_constraint(
        op.f("ck_feature_flags_version_positive"), "feature_flags", "version >= 1", schema="admin"
    )
    for column in ("target_users", "target_stations"):
        op.create_check_constraint(
            op.f(f"ck_feature_flags_{column}_array"),
            "feature_flags",
            f"jsonb_typeof({column}) = 'array'",
            schema="admin",
        )


def downgrade() -> None:
    """Drop the checks and the added columns."""
    for column in ("target_stations", "target_users"):
        op.drop_constraint(
            op.f(f"ck_feature_flags_{column}_array"), "feature_flags", schema="admin", type_="check"
        )
    op.drop_constraint(
        op.f("ck_feature_flags_version_positive"), "feature_flags", schema="admin", type_="check"
    )
    op.drop_constraint(
        op.f("ck_feature_flags_rollout_percent_range"),
        "feature_flags",
        schema="admin",
        type_="check",
    )
    for column in reversed(_COLUMNS):
        op.drop_column("feature_flags", column, schema="admin")
