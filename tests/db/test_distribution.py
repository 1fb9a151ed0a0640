"""``check --citus-ready``: every rule Citus would refuse is named; a fresh schema has none."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from medz1.db.target import Target
from medz1.models import metadata
from medz1.ops.distribution import citus_readiness

pytestmark = pytest.mark.db


def _alter(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_fresh_database_is_ready_and_names_every_table(db_target: Target) -> None:
    report = citus_readiness(db_target)
    assert report.problems == ()
    declared = {f"{t.schema}.{t.name}" for t in metadata.tables.values()}
    # auth and admin are reference tables even where a row names a patient
    # (auth.break_glass_grants is read by session, on every node).
    with_patient = {
        f"{t.schema}.{t.name}"
        for t in metadata.tables.values()
        if "patient_key" in t.c and t.schema not in {"auth", "admin"}
    }
    assert set(report.distributed) == with_patient
    assert set(report.reference) == declared - with_patient
    # auth and admin hold no patient rows: all of them are reference tables.
    assert {t for t in declared if t.split(".")[0] in {"auth", "admin"}} <= set(report.reference)
    assert report.coordinator == ("public.alembic_version",)


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (
            [
                "ALTER TABLE patient_vitals DROP CONSTRAINT pk_patient_vitals",
                "ALTER TABLE patient_vitals ADD CONSTRAINT pk_by_vital PRIMARY KEY (vital_id)",
            ],
            "primary key pk_by_vital on public.patient_vitals",
        ),
        (
            ["ALTER TABLE patient_labs ADD CONSTRAINT uq_sid_only UNIQUE (lab_chem_sid)"],
            "unique constraint uq_sid_only on public.patient_labs",
        ),
        (
            ["CREATE UNIQUE INDEX ux_icn ON patient_demographics (icn)"],
            "unique index ux_icn on public.patient_demographics",
        ),
        (
            [
                "CREATE UNIQUE INDEX ux_lower_key ON patient_flags (lower(patient_key), flag_id)",
            ],
            "unique index ux_lower_key on public.patient_flags",
        ),
        (
            [
                "CREATE EXTENSION IF NOT EXISTS btree_gist",
                "ALTER TABLE patient_encounters ADD CONSTRAINT ex_enc EXCLUDE USING gist "
                "(encounter_id WITH =)",
            ],
            "exclusion constraint ex_enc on public.patient_encounters",
        ),
        (
            [
                "ALTER TABLE patient_encounters ADD CONSTRAINT uq_enc_id UNIQUE "
                "(encounter_id, patient_key)",
                "ALTER TABLE patient_vitals ADD COLUMN encounter_id integer",
                "ALTER TABLE patient_vitals ADD CONSTRAINT fk_vitals_enc FOREIGN KEY "
                "(encounter_id, patient_key) REFERENCES patient_encounters "
                "(encounter_id, patient_key)",
                # patient_key on both sides, but paired with another column.
                "ALTER TABLE patient_demographics ADD CONSTRAINT uq_key_icn UNIQUE "
                "(patient_key, icn)",
                "ALTER TABLE patient_labs ADD COLUMN other_key varchar(50)",
                "ALTER TABLE patient_labs ADD CONSTRAINT fk_labs_demo FOREIGN KEY "
                "(other_key, patient_key) REFERENCES patient_demographics (patient_key, icn)",
            ],
            "foreign key fk_labs_demo on public.patient_labs -> public.patient_demographics",
        ),
        (
            [
                "ALTER TABLE admin.feature_flags ADD COLUMN patient_key varchar(50) "
                "REFERENCES patient_demographics (patient_key)",
            ],
            "on reference table admin.feature_flags references the distributed table "
            "public.patient_demographics",
        ),
        (
            ["CREATE TABLE public.patient_notes (note_id integer PRIMARY KEY, body text)"],
            "table public.patient_notes has no patient_key column",
        ),
    ],
    ids=[
        "primary-key",
        "unique-constraint",
        "unique-index",
        "unique-expression-index",
        "exclusion",
        "foreign-key-pairing",
        "reference-to-distributed",
        "patient-table-without-key",
    ],
)
def test_each_rule_citus_refuses_is_named(
    db_target: Target, engine: Engine, statements: list[str], named: str
) -> None:
    _alter(engine, *statements)
    report = citus_readiness(db_target)
    assert not report.ready
    assert any(named in problem for problem in report.problems), report.problems
    # A foreign key that pairs patient_key with patient_key is not a problem.
    assert not any("fk_vitals_enc" in problem for problem in report.problems)


def test_foreign_key_to_a_reference_table_is_allowed(db_target: Target, engine: Engine) -> None:
    _alter(
        engine,
        "ALTER TABLE patient_flags ADD COLUMN flag_name_ref varchar(100) "
        "REFERENCES admin.feature_flags (flag_key)",
    )
    assert citus_readiness(db_target).problems == ()
