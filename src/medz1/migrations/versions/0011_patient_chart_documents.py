"""Keep each patient's chart as one JSON document, so the chart is a primary-key lookup.

``public.patient_chart_documents`` holds, per patient, the chart's domains as
``medz1.dal.chart`` reads them from the clinical tables, without the facts relative to the
present (age, stay lengths, expiry, review status), which the reader computes from its
clock. The loader rebuilds the documents of every patient a load touches, in the load's
own transaction. This revision builds the documents of the patients already loaded, with
the document expression of the medz1 version that runs it; a reader ignores a document of
another layout (``format``) and reads the clinical tables instead. The table gets the
station row security of every clinical table (0010).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from medz1.db.types import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APP = "med_z1_user"
_REPORTING = "reporting_user"
#: The station policy of a clinical table other than patient_demographics (as in 0010).
_SCOPE = (
    "(((patient_key)::text = (SELECT public.medz1_scoped_patient())) "
    "OR public.medz1_patient_visible((patient_key)::text))"
)
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
    # The migration runs as the tables' owner, which row security (0010) holds to the
    # policies under FORCE and which no policy names: it would read no patient. FORCE is
    # lifted for the rebuild only, inside this transaction.
    forced = [
        str(name)
        for (name,) in op.get_bind().execute(
            sa.text(
                "SELECT c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relforcerowsecurity"
            )
        )
    ]
    for table in forced:
        op.execute(f'ALTER TABLE public."{table}" NO FORCE ROW LEVEL SECURITY')
    _, build = REBUILD_ALL
    op.get_bind().execute(build, {"as_of": datetime.now(UTC)})
    for table in forced:
        op.execute(f'ALTER TABLE public."{table}" FORCE ROW LEVEL SECURITY')
    # The documents hold clinical rows: the same station policies as every clinical table.
    op.execute("ALTER TABLE public.patient_chart_documents ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE public.patient_chart_documents FORCE ROW LEVEL SECURITY")
    op.execute(
        _if_role(
            _APP,
            "CREATE POLICY station_scope ON public.patient_chart_documents AS PERMISSIVE "
            f"FOR SELECT TO {_APP} USING {_SCOPE}",
        )
    )
    op.execute(
        _if_role(
            _REPORTING,
            "CREATE POLICY reporting_all ON public.patient_chart_documents AS PERMISSIVE "
            f"FOR SELECT TO {_REPORTING} USING (true)",
        )
    )


def downgrade() -> None:
    """Drop the documents table (its policies go with it)."""
    op.drop_table("patient_chart_documents", schema="public")


def _if_role(role: str, statement: str) -> str:
    """``statement``, run only when ``role`` exists (``grants apply`` creates it later)."""
    return (
        f"DO $medz1$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN EXECUTE $q${statement}$q$; END IF; END $medz1$"
    )
