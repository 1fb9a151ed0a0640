"""Check constraints in a form that survives dump and restore.

``ai.drug_interactions.ck_drug_interactions_severity_known`` was written ``severity IN
(...)`` on a ``varchar`` column. PostgreSQL stores that as ``(severity)::text = ANY
((ARRAY['major'::character varying, ...])::text[])``, and re-reading that text (as
``pg_restore`` does) gives a different tree, ``ARRAY[('major'::character varying)::text,
...]``: after ``medz1 backup restore`` the constraint meant the same but ``medz1 check``
reported it as changed. Written ``severity::text IN (...)``, it is stored as ``ARRAY['major'::text,
...]``, which reads back to itself. ``tests/db/test_catalog_drift.py`` re-reads every
declared CHECK constraint and asserts each is stable.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ai.drug_interactions"
_NAME = "ck_drug_interactions_severity_known"
_VALUES = "('major', 'moderate', 'minor', 'unknown')"


def _replace(column: str) -> None:
    op.execute(f"ALTER TABLE {_TABLE} DROP CONSTRAINT {_NAME}")
    op.execute(f"ALTER TABLE {_TABLE} ADD CONSTRAINT {_NAME} CHECK ({column} IN {_VALUES})")


def upgrade() -> None:
    """Compare the severity as text."""
    _replace("severity::text")


def downgrade() -> None:
    """The varchar comparison of 0008."""
    _replace("severity")
