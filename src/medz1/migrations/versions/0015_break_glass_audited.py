"""Break-the-glass only through one audited function; the chart's station check as one InitPlan.

- ``auth.break_glass_open(...)`` (SECURITY DEFINER, ``search_path`` pinned, executable by
  ``med_z1_user`` only) is the one way to open a patient outside the transaction's station:
  it refuses a missing, blank, over-long or control-character reason, a patient key that is
  not an ICN, a duration outside 1..480 minutes and a missing session (SQLSTATE 22023), then
  inserts the grant (times from the server's clock) and appends the ``break_glass`` audit
  row (who, session, patient, reason, minutes, grant id) in the caller's transaction. The
  application loses INSERT on ``auth.break_glass_grants``: a plain INSERT, which would open
  a patient without a reason check and without an audit row, is refused (42501). It never
  held UPDATE, DELETE or TRUNCATE there, so a grant cannot be extended or hidden either.
- The per-patient AI tables of 0014 check each row with ``ai.patient_visible`` (PL/pgSQL,
  calling ``public.medz1_patient_visible``): the same rows, and no dependency of ``ai`` on
  an object of ``public``, so either schema can be restored alone.
- The station policy of every clinical table but ``patient_demographics`` checks the
  transaction's patient (``medz1.patient``) with an uncorrelated sub-select of
  ``patient_demographics`` written into the policy, instead of calling
  ``public.medz1_scoped_patient()``: the server runs it as one InitPlan per table reference
  (one index probe, held to ``patient_demographics``' own policy), without the function
  call and its ``search_path`` switch, and the break-the-glass lookup inside is run only
  when the station test fails (InitPlans are evaluated on first use). The function is
  dropped. Rows of other patients are still checked row by row
  (``public.medz1_patient_visible``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APP = "med_z1_user"
_SCOPED = (
    "public.patient_allergies",
    "public.patient_allergy_reactions",
    "public.patient_chart_documents",
    "public.patient_encounters",
    "public.patient_flag_history",
    "public.patient_flags",
    "public.patient_labs",
    "public.patient_medications_inpatient",
    "public.patient_medications_outpatient",
    "public.patient_vitals",
)
#: The per-patient AI tables (0014): each row checked by ``ai.patient_visible`` (the same
#: rows). A policy that names an object of ``public`` (a table or a function) ties ``ai``
#: to ``public``, and a restore of ``public`` alone could not drop and recreate it; the
#: body of a PL/pgSQL function is not such a dependency.
_AI_SCOPED = ("ai.chart_summaries", "ai.patient_embeddings")
_AI_SCOPE = "(ai.patient_visible((patient_key)::text))"
_AI_VISIBLE = """
CREATE FUNCTION ai.patient_visible(key text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN public.medz1_patient_visible(key);
END
$fn$
"""
#: The station policy of a clinical table other than patient_demographics (as declared in
#: ``medz1.provision.declared``).
_SCOPE = (
    "(((patient_key)::text = (SELECT (d.patient_key)::text AS patient_key "
    "FROM public.patient_demographics d "
    "WHERE ((d.patient_key)::text = pg_catalog.current_setting('medz1.patient'::text, true)))) "
    "OR public.medz1_patient_visible((patient_key)::text))"
)
_OLD_SCOPE = (
    "(((patient_key)::text = (SELECT public.medz1_scoped_patient())) "
    "OR public.medz1_patient_visible((patient_key)::text))"
)
_OPEN_SIGNATURE = "auth.break_glass_open(uuid, text, text, integer, uuid, text, text, text)"
#: Characters a reason may not hold (besides line breaks inside it): C0 and C1 controls,
#: zero-width and bidirectional format characters, line and paragraph separators, BOM.
_REFUSED = (
    r"[\u0001-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f"
    r"\u2028-\u202e\u2060-\u2064\ufeff]"
)
_OPEN = rf"""
CREATE FUNCTION auth.break_glass_open(
    session_id uuid, patient_key text, reason text, minutes integer, user_id uuid,
    email text, ip_address text, user_agent text)
RETURNS TABLE (grant_id bigint, granted_at timestamptz, expires_at timestamptz,
               chain_seq bigint, row_hash bytea)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cleaned pg_catalog.text := pg_catalog.btrim(reason, E' \t\n\r');
    made record;
    audited record;
BEGIN
    IF session_id IS NULL THEN
        RAISE EXCEPTION 'break-the-glass needs the session the grant is for'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'pass the session id';
    END IF;
    IF cleaned IS NULL OR cleaned = '' THEN
        RAISE EXCEPTION 'break-the-glass needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'say why you open this patient';
    END IF;
    IF cleaned ~ '{_REFUSED}' THEN
        RAISE EXCEPTION 'the break-the-glass reason holds control characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'type plain text';
    END IF;
    IF pg_catalog.char_length(cleaned) > 1000 THEN
        RAISE EXCEPTION 'the break-the-glass reason is longer than 1000 characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'say it shorter';
    END IF;
    IF patient_key IS NULL OR patient_key !~ '^[A-Za-z0-9]{{1,32}}$' THEN
        RAISE EXCEPTION 'the patient is not an ICN'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'give the patient''s ICN';
    END IF;
    IF minutes IS NULL OR minutes < 1 OR minutes > 480 THEN
        RAISE EXCEPTION 'a break-the-glass grant lasts 1 to 480 minutes'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'pass 1 to 480 minutes';
    END IF;
    INSERT INTO auth.break_glass_grants AS g
        (session_id, user_id, patient_key, reason, granted_at, expires_at)
    VALUES (break_glass_open.session_id, break_glass_open.user_id,
            break_glass_open.patient_key, cleaned, pg_catalog.now(),
            pg_catalog.now() + pg_catalog.make_interval(mins => break_glass_open.minutes))
    RETURNING g.grant_id, g.granted_at, g.expires_at INTO made;
    INSERT INTO auth.audit_logs AS l
        (user_id, event_type, email, ip_address, user_agent, success, session_id, details)
    VALUES (break_glass_open.user_id, 'break_glass', break_glass_open.email,
            break_glass_open.ip_address, break_glass_open.user_agent, true,
            break_glass_open.session_id,
            pg_catalog.jsonb_build_object(
                'patient_key', break_glass_open.patient_key, 'reason', cleaned,
                'minutes', break_glass_open.minutes, 'grant_id', made.grant_id))
    RETURNING l.chain_seq, l.row_hash INTO audited;
    IF audited.chain_seq IS NULL THEN
        RAISE EXCEPTION 'the break-the-glass audit row was not stored'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'a trigger on auth.audit_logs discards rows; run `medz1 check`';
    END IF;
    grant_id := made.grant_id;
    granted_at := made.granted_at;
    expires_at := made.expires_at;
    chain_seq := audited.chain_seq;
    row_hash := audited.row_hash;
    RETURN NEXT;
END
$fn$
"""
_SCOPED_PATIENT = """
CREATE FUNCTION public.medz1_scoped_patient() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT (d.patient_key)::text FROM public.patient_demographics d
WHERE (d.patient_key)::text = pg_catalog.current_setting('medz1.patient', true)
$fn$
"""


def _if_role(role: str, statement: str) -> str:
    """``statement``, run only when ``role`` exists (``grants apply`` creates it later)."""
    return (
        f"DO $medz1$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN EXECUTE $q${statement}$q$; END IF; END $medz1$"
    )


def _set_policies(using: str, tables: tuple[str, ...] = _SCOPED) -> None:
    for table in tables:
        op.execute(
            _if_role(
                _APP,
                f"ALTER POLICY station_scope ON {table} USING {using}",
            )
        )


def upgrade() -> None:
    """Add the audited grant function, take INSERT away, inline the chart's check."""
    op.execute(_OPEN)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_OPEN_SIGNATURE} FROM PUBLIC")
    op.execute(_if_role(_APP, f"GRANT EXECUTE ON FUNCTION {_OPEN_SIGNATURE} TO {_APP}"))
    op.execute(_if_role(_APP, f"REVOKE INSERT ON auth.break_glass_grants FROM {_APP}"))
    op.execute(
        f"COMMENT ON FUNCTION {_OPEN_SIGNATURE} IS 'Break-the-glass: checks the reason, grants one patient to one "
        "session for 1 to 480 minutes and appends the break_glass audit row, in the "
        "caller''s transaction (the only way to write auth.break_glass_grants)'"
    )
    _set_policies(_SCOPE)
    op.execute(_AI_VISIBLE)
    op.execute("REVOKE EXECUTE ON FUNCTION ai.patient_visible(text) FROM PUBLIC")
    op.execute(_if_role(_APP, f"GRANT EXECUTE ON FUNCTION ai.patient_visible(text) TO {_APP}"))
    _set_policies(_AI_SCOPE, _AI_SCOPED)
    op.execute("DROP FUNCTION public.medz1_scoped_patient()")


def downgrade() -> None:
    """Give INSERT back, drop the function, restore the per-statement function call."""
    op.execute(_SCOPED_PATIENT)
    op.execute("REVOKE EXECUTE ON FUNCTION public.medz1_scoped_patient() FROM PUBLIC")
    op.execute(_if_role(_APP, f"GRANT EXECUTE ON FUNCTION public.medz1_scoped_patient() TO {_APP}"))
    _set_policies(_OLD_SCOPE)
    _set_policies(_OLD_SCOPE, _AI_SCOPED)
    op.execute("DROP FUNCTION ai.patient_visible(text)")
    op.execute(_if_role(_APP, f"GRANT INSERT ON auth.break_glass_grants TO {_APP}"))
    op.execute(f"DROP FUNCTION {_OPEN_SIGNATURE}")
