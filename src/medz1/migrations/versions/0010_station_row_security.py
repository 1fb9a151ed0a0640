"""Station row-level security on the clinical tables, with audited break-the-glass.

A clinician sees the patients of their home station (sta3n). Every clinical table
(``public.patient_*``) gets row-level security, enabled and forced (the owner is held to
the policies too), and two permissive SELECT policies:

- ``station_scope`` for ``med_z1_user``: on ``patient_demographics``, a patient whose
  ``primary_station`` equals the transaction's setting ``medz1.station`` and who is not
  ``is_sensitive``, or a patient with an unexpired break-the-glass grant for the
  transaction's ``medz1.session``; on every other clinical table, a row whose patient is
  visible in ``patient_demographics`` (that table's own policy decides). The application
  sets the settings with ``set_config(..., true)``, for one transaction only; a missing or
  malformed setting matches nothing, so nothing is shown (fail closed). The settings are
  read inside ``(SELECT ...)`` so each is evaluated once per statement.
  A read of one patient also names it in ``medz1.patient``: ``public.medz1_scoped_patient()``
  checks that patient once per statement, so the chart pays no per-row check; rows of
  other patients are checked row by row (``public.medz1_patient_visible``). Naming a patient
  never widens what is visible.
- ``reporting_all`` for ``reporting_user``: every row (population reporting, read only).

The loader holds BYPASSRLS (declared in the grant policy): ``COPY ... FROM`` refuses to
run where row security applies. Policies naming a role that does not exist yet are left
to ``medz1 grants apply``, which creates them.

``patient_demographics.is_sensitive`` (false for every existing patient) marks a sensitive
record, which needs break-the-glass even at the patient's station. ``auth.break_glass_grants``
holds the grants: session, user, patient, reason, start and end.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APP = "med_z1_user"
_REPORTING = "reporting_user"
_DEMOGRAPHICS = "patient_demographics"
_CLINICAL = (
    "patient_allergies",
    "patient_allergy_reactions",
    "patient_demographics",
    "patient_encounters",
    "patient_flag_history",
    "patient_flags",
    "patient_labs",
    "patient_medications_inpatient",
    "patient_medications_outpatient",
    "patient_vitals",
)
_BREAK_GLASS = (
    "((patient_key)::text = ANY (CAST((SELECT public.medz1_break_glass_patients()) AS text[])))"
)
_DEMOGRAPHICS_SCOPE = (
    "(((primary_station)::text = (SELECT pg_catalog.current_setting('medz1.station', true)) "
    f"AND (NOT is_sensitive)) OR {_BREAK_GLASS})"
)


#: The transaction's patient (``medz1.patient``) when the application role may see that
#: patient (``patient_demographics``' own policy decides), else NULL.
_SCOPED_PATIENT = """
CREATE FUNCTION public.medz1_scoped_patient() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT (d.patient_key)::text FROM public.patient_demographics d
WHERE (d.patient_key)::text = pg_catalog.current_setting('medz1.patient', true)
$fn$
"""
#: Whether the caller may see patient ``key`` (the per-row path, for reads that name no
#: patient in ``medz1.patient``). PL/pgSQL, so it is never inlined into the reading plan.
_PATIENT_VISIBLE = """
CREATE FUNCTION public.medz1_patient_visible(key text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM public.patient_demographics d WHERE (d.patient_key)::text = key
    );
END
$fn$
"""
#: The patients opened to the transaction's session (``medz1.session``) by an unexpired
#: break-the-glass grant. A malformed session id matches nothing.
_BREAK_GLASS_PATIENTS = """
CREATE FUNCTION public.medz1_break_glass_patients() RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    session text := pg_catalog.current_setting('medz1.session', true);
BEGIN
    IF session IS NULL OR session !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(
        SELECT (g.patient_key)::text FROM auth.break_glass_grants g
        WHERE g.session_id = CAST(session AS uuid) AND g.expires_at > pg_catalog.now()
    );
END
$fn$
"""
_FUNCTIONS = (
    "public.medz1_break_glass_patients()",
    "public.medz1_scoped_patient()",
    "public.medz1_patient_visible(text)",
)


def _scope(table: str) -> str:
    if table == _DEMOGRAPHICS:
        return _DEMOGRAPHICS_SCOPE
    # The patient of the transaction is checked once per statement (an InitPlan); rows of
    # any other patient fall back to a check per row.
    return (
        "(((patient_key)::text = (SELECT public.medz1_scoped_patient())) "
        "OR public.medz1_patient_visible((patient_key)::text))"
    )


def _if_role(role: str, statement: str) -> str:
    quoted = statement.replace("$medz1$", "")
    return (
        f"DO $medz1$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN EXECUTE $q${quoted}$q$; END IF; END $medz1$"
    )


def upgrade() -> None:
    """Add the sensitive flag, the grants table, and row security with its policies."""
    op.add_column(
        _DEMOGRAPHICS,
        sa.Column(
            "is_sensitive",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Sensitive record (VistA DG SECURITY): every clinician, at the patient's "
            "station too, opens it only by breaking the glass with a reason",
        ),
        schema="public",
    )
    op.create_table(
        "break_glass_grants",
        sa.Column(
            "grant_id",
            sa.BigInteger(),
            sa.Identity(always=True),
            nullable=False,
            comment="Grant id (identity)",
        ),
        sa.Column(
            "session_id",
            sa.Uuid(),
            nullable=False,
            comment="The session the grant is for: a login session, or a one-command scope of "
            "the command line",
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="Who broke the glass (no foreign key: grants outlive users, as audit rows)",
        ),
        sa.Column("patient_key", sa.String(50), nullable=False, comment="The patient opened (ICN)"),
        sa.Column("reason", sa.Text(), nullable=False, comment="The reason the clinician gave"),
        sa.Column(
            "granted_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the grant was made (UTC)",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the grant ends (UTC)",
        ),
        sa.CheckConstraint(
            "char_length(btrim(reason)) BETWEEN 1 AND 1000",
            name="reason_given",
        ),
        sa.CheckConstraint("expires_at > granted_at", name="expires_after_granted"),
        sa.PrimaryKeyConstraint("grant_id", name="pk_break_glass_grants"),
        schema="auth",
        comment="Break-the-glass grants: one patient opened outside the clinician's "
        "station (or a sensitive patient), for one session, until expires_at, with the "
        "reason given; each grant is also an audit event (break_glass)",
    )
    op.create_index(
        "ix_break_glass_grants_session",
        "break_glass_grants",
        ["session_id", "expires_at"],
        schema="auth",
    )
    # The functions live in public and read auth only in their bodies, so no policy depends
    # on an object of another schema (a restore may replace one schema alone).
    op.execute(_BREAK_GLASS_PATIENTS)
    op.execute(_SCOPED_PATIENT)
    op.execute(_PATIENT_VISIBLE)
    for function in _FUNCTIONS:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        op.execute(_if_role(_APP, f"GRANT EXECUTE ON FUNCTION {function} TO {_APP}"))
    for table in _CLINICAL:
        op.execute(f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            _if_role(
                _APP,
                f"CREATE POLICY station_scope ON public.{table} AS PERMISSIVE FOR SELECT "
                f"TO {_APP} USING {_scope(table)}",
            )
        )
        op.execute(
            _if_role(
                _REPORTING,
                f"CREATE POLICY reporting_all ON public.{table} AS PERMISSIVE FOR SELECT "
                f"TO {_REPORTING} USING (true)",
            )
        )


def downgrade() -> None:
    """Drop the policies, row security, the grants table and the sensitive flag."""
    for table in _CLINICAL:
        op.execute(f"DROP POLICY IF EXISTS station_scope ON public.{table}")
        op.execute(f"DROP POLICY IF EXISTS reporting_all ON public.{table}")
        op.execute(f"ALTER TABLE public.{table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE public.{table} DISABLE ROW LEVEL SECURITY")
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_index("ix_break_glass_grants_session", table_name="break_glass_grants", schema="auth")
    op.drop_table("break_glass_grants", schema="auth")
    op.drop_column(_DEMOGRAPHICS, "is_sensitive", schema="public")
