"""Index patient names case-insensitively for the name-prefix search.

``medz1 patients search`` matches ``lower(name_last) LIKE 'prefix%'`` and orders by
name; this expression index serves both (the database's C.UTF-8 collation lets a plain
btree answer prefix matches).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the lower-case name index."""
    op.execute(
        "CREATE INDEX ix_patient_demographics_lower_name ON public.patient_demographics "
        "(lower(name_last::text), lower(name_first::text), patient_key)"
    )


def downgrade() -> None:
    """Drop the lower-case name index."""
    op.execute("DROP INDEX public.ix_patient_demographics_lower_name")
