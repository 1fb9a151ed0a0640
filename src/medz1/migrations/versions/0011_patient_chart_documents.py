"""Keep each patient's chart as one JSON document, so the chart is a primary-key lookup.

``public.patient_chart_documents`` holds, per patient, the chart's domains as
``medz1.dal.chart`` reads them from the clinical tables, without the facts relative to the
present (age, stay lengths, expiry, review status), which the reader computes from its
clock. The loader rebuilds the documents of every patient a load touches, in the load's
own transaction. This revision builds the documents of the patients already loaded, with
the document expression of the medz1 version that runs it; a reader ignores a document of
another layout (``format``) and reads the clinical tables instead.

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from medz1.db.types import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATIENT_KEY = "Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)"


def upgrade() -> None:
    """Create the documents table and build the documents of the patients present."""
    from medz1.dal.chart import REBUILD_ALL

    op.create_table(
        "patient_chart_documents",
        sa.Column("patient_key", sa.String(50), nullable=False, comment=PATIENT_KEY),
        sa.Column(
            "format",
            sa.SmallInteger(),
            nullable=False,
            comment="Version of the document's layout; a reader ignores a document of "
            "another version and reads the clinical tables instead",
        ),
        sa.Column(
            "document",
            sa.JSON(),
            nullable=False,
            comment="The chart's domains as JSON arrays of record fields, without the facts "
            "computed when read (age, stay length, expiry, review status)",
        ),
        sa.Column(
            "built_at",
            UTCDateTime(),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the loader built it (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", name="pk_patient_chart_documents"),
        schema="public",
        comment="The patient chart as one JSON document per patient, rebuilt by the "
        "loader in the transaction of every load (medz1 only; not read by med-z1)",
    )
    _, build = REBUILD_ALL
    op.get_bind().execute(build, {"as_of": datetime.now(UTC)})


def downgrade() -> None:
    """Drop the documents table."""
    op.drop_table("patient_chart_documents", schema="public")
