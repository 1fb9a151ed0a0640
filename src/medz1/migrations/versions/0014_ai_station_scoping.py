"""Station row-level security on the per-patient AI tables; embeddings keyed by the
patient's station.

``ai.patient_embeddings`` and ``ai.chart_summaries`` hold chart text and summaries of
patients, so they get the station policy of every clinical table (0010): row security
enabled and forced, and ``station_scope`` for ``med_z1_user`` showing a row whose patient
is visible in ``patient_demographics`` (the patient's station, not sensitive, or opened by
break-the-glass; nothing without a scope: fail closed). The summaries are written by the
application, so their policy covers every command (its USING is also the check of a new
row); the embeddings are written by the loader (BYPASSRLS: it embeds every station's
charts), so the application only reads them. ``reporting_user`` sees nothing of ``ai``.

``ai.patient_embeddings.station`` becomes the patient's primary station (the station
whose clinicians may see the chunk), so a station's search reads one station's rows; the
rows already stored are rewritten from ``patient_demographics``.

Station search: one partial HNSW index per station (``WHERE station = '<sta3n>'``),
created by ``ai.embedding_station_index(sta3n)`` (SECURITY DEFINER, as the owner; executed
by the loader's embedding job when a station first appears in its chunks, and here for the
stations already stored). ``bench/bench_ai.py`` chose it over an iterative scan of the
whole table's index and over a table partitioned by station (docs/ai.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APP = "med_z1_user"
#: The station policy of a clinical table other than patient_demographics (as in 0010).
_SCOPE = (
    "(((patient_key)::text = (SELECT public.medz1_scoped_patient())) "
    "OR public.medz1_patient_visible((patient_key)::text))"
)
#: Table and the commands its policy covers.
_TABLES = (("patient_embeddings", "SELECT"), ("chart_summaries", "ALL"))
_LOADER = "medz1_loader"
#: Creates the partial HNSW index of one station if it is missing; true when it did.
#: An advisory lock serialises two jobs meeting the same new station.
_STATION_INDEX = """
CREATE FUNCTION ai.embedding_station_index(station text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    name text;
BEGIN
    IF station IS NULL OR station !~ '^[0-9]{3}[A-Za-z0-9]{0,7}$' THEN
        RAISE EXCEPTION 'not a station number' USING ERRCODE = '22023';
    END IF;
    name := 'ix_patient_embeddings_hnsw_s' || station;
    PERFORM pg_advisory_xact_lock(hashtext(name));
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'ai' AND c.relname = name) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE INDEX %I ON ai.patient_embeddings '
                   'USING hnsw (embedding public.vector_cosine_ops) WHERE station = %L',
                   name, station);
    RETURN true;
END
$fn$
"""
_FUNCTION = "ai.embedding_station_index(text)"


def _if_role(role: str, statement: str) -> str:
    """``statement``, run only when ``role`` exists (``grants apply`` creates it later)."""
    return (
        f"DO $medz1$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN EXECUTE $q${statement}$q$; END IF; END $medz1$"
    )


def upgrade() -> None:
    """Key stored chunks by the patient's station; add row security and the policies."""
    # Runs as the owner, whom FORCE holds to the clinical policies: lift it on
    # patient_demographics for this one read, inside this transaction.
    op.execute("ALTER TABLE public.patient_demographics NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "UPDATE ai.patient_embeddings e SET station = d.primary_station "
        "FROM public.patient_demographics d WHERE d.patient_key = e.patient_key "
        "AND e.station IS DISTINCT FROM d.primary_station"
    )
    op.execute("ALTER TABLE public.patient_demographics FORCE ROW LEVEL SECURITY")
    op.execute(
        "COMMENT ON COLUMN ai.patient_embeddings.station IS 'VA station number (sta3n): the "
        "patient''s primary station, whose clinicians may see the chunk; search filter'"
    )
    op.execute(_STATION_INDEX)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {_FUNCTION} FROM PUBLIC")
    op.execute(_if_role(_LOADER, f"GRANT EXECUTE ON FUNCTION {_FUNCTION} TO {_LOADER}"))
    op.execute(
        f"SELECT {_FUNCTION.replace('(text)', '')}(s) FROM (SELECT DISTINCT station "
        "FROM ai.patient_embeddings WHERE station IS NOT NULL) AS stored(s)"
    )
    for table, command in _TABLES:
        op.execute(f"ALTER TABLE ai.{table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE ai.{table} FORCE ROW LEVEL SECURITY")
        op.execute(
            _if_role(
                _APP,
                f"CREATE POLICY station_scope ON ai.{table} AS PERMISSIVE FOR {command} "
                f"TO {_APP} USING {_SCOPE}",
            )
        )


def downgrade() -> None:
    """Drop the policies and row security of the AI tables."""
    indexes = op.get_bind().exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'ai' "
        "AND starts_with(indexname, 'ix_patient_embeddings_hnsw_s')"
    )
    for (name,) in list(indexes):
        op.execute(f'DROP INDEX ai."{name}"')
    op.execute(f"DROP FUNCTION {_FUNCTION}")
    for table, _ in _TABLES:
        op.execute(f"DROP POLICY IF EXISTS station_scope ON ai.{table}")
        op.execute(f"ALTER TABLE ai.{table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE ai.{table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        "COMMENT ON COLUMN ai.patient_embeddings.station IS 'VA station number (sta3n) of "
        "the source row, else the patient''s primary station; search filter'"
    )
