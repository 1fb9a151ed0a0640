"""The synthetic clinical data: schema, keys, volumes and clinical consistency."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import String
from typer.testing import CliRunner

from medz1.cli.demo import app
from medz1.clinical import synthetic
from medz1.clinical.arrow_types import arrow_schema
from medz1.clinical.synthetic import DEFAULT_AS_OF, MODEL_TABLES, generate, write_parquet
from medz1.errors import UsageError

PATIENTS = 300
TABLES = list(MODEL_TABLES)

NATURAL_KEYS = {
    "patient_demographics": ["patient_key"],
    "patient_vitals": ["patient_key", "vital_sign_id"],
    "patient_flags": ["patient_key", "assignment_id"],
    "patient_labs": ["patient_key", "lab_chem_sid"],
    "patient_encounters": ["patient_key", "inpatient_id"],
    "patient_allergies": ["patient_key", "allergy_sid"],
    "patient_medications_outpatient": ["patient_key", "rx_outpat_id"],
    "patient_medications_inpatient": ["patient_key", "bcma_log_id"],
    "patient_allergy_reactions": ["patient_key", "allergy_sid", "reaction_name"],
    "patient_flag_history": ["patient_key", "assignment_id", "history_date", "action_code"],
}

VOLUMES = {  # rows per patient allowed by the column contract
    "patient_vitals": (50, 500),
    "patient_labs": (50, 500),
    "patient_medications_outpatient": (5, 50),
    "patient_medications_inpatient": (0, 100),
    "patient_encounters": (0, 20),
    "patient_allergies": (0, 15),
    "patient_allergy_reactions": (0, 30),
    "patient_flags": (0, 5),
    "patient_flag_history": (0, 20),
}

#: Dates that lie in the future by nature: when a prescription expires, the next review.
FORWARD_LOOKING = {
    ("patient_medications_outpatient", "expiration_date"),
    ("patient_flags", "next_review_date"),
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate(PATIENTS, seed=11)


def _rows(table: pa.Table, *names: str) -> list[tuple[Any, ...]]:
    """The rows of ``table`` as tuples of the named columns."""
    return list(zip(*(table.column(n).to_pylist() for n in names), strict=True))


def test_same_seed_gives_identical_tables(tables: dict[str, pa.Table]) -> None:
    again = generate(PATIENTS, seed=11)
    assert all(again[name].equals(tables[name]) for name in TABLES)


def test_different_seed_gives_different_tables(tables: dict[str, pa.Table]) -> None:
    other = generate(PATIENTS, seed=12)
    assert not other["patient_vitals"].equals(tables["patient_vitals"])
    assert not other["patient_demographics"].equals(tables["patient_demographics"])


def test_one_table_per_clinical_table_of_schema_public(tables: dict[str, pa.Table]) -> None:
    assert len(tables) == 10
    assert {MODEL_TABLES[name].schema for name in tables} == {"public"}


@pytest.mark.parametrize("name", TABLES)
def test_every_table_matches_the_arrow_schema_of_its_model(
    tables: dict[str, pa.Table], name: str
) -> None:
    assert tables[name].schema.equals(arrow_schema(MODEL_TABLES[name]))


@pytest.mark.parametrize("name", TABLES)
def test_natural_keys_are_unique(tables: dict[str, pa.Table], name: str) -> None:
    keys = _rows(tables[name], *NATURAL_KEYS[name])
    assert len(set(keys)) == len(keys)


def test_source_ids_stay_unique_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "CHUNK_PATIENTS", 40)
    vitals = generate(100, seed=3)["patient_vitals"]
    assert pc.count_distinct(vitals.column("vital_sign_id")).as_py() == vitals.num_rows
    assert pc.count_distinct(vitals.column("patient_key")).as_py() == 100


@pytest.mark.parametrize("name", list(VOLUMES))
def test_rows_per_patient_are_within_the_contract(tables: dict[str, pa.Table], name: str) -> None:
    low, high = VOLUMES[name]
    counts = pc.value_counts(tables[name].column("patient_key")).field("counts").to_numpy()
    with_rows = len(counts)
    assert counts.max(initial=0) <= high
    assert low == 0 or (with_rows == PATIENTS and counts.min() >= low)


def test_volumes_are_skewed_most_patients_modest(tables: dict[str, pa.Table]) -> None:
    counts = pc.value_counts(tables["patient_vitals"].column("patient_key")).field("counts")
    values = counts.to_numpy()
    assert np.median(values) < values.mean() < values.max() / 2


@pytest.mark.parametrize("name", TABLES)
def test_no_not_null_column_has_nulls(tables: dict[str, pa.Table], name: str) -> None:
    table = tables[name]
    required = [f.name for f in table.schema if not f.nullable]
    assert {n: table.column(n).null_count for n in required} == dict.fromkeys(required, 0)


@pytest.mark.parametrize("name", TABLES)
def test_every_string_fits_its_varchar_length(tables: dict[str, pa.Table], name: str) -> None:
    too_long = {}
    for column in MODEL_TABLES[name].columns:
        if (
            isinstance(column.type, String)
            and column.type.length
            and column.name in tables[name].column_names
        ):
            longest = pc.max(pc.utf8_length(tables[name].column(column.name))).as_py() or 0
            if longest > column.type.length:
                too_long[column.name] = longest
    assert too_long == {}


@pytest.mark.parametrize("name", TABLES)
def test_timestamps_are_utc_and_before_as_of(tables: dict[str, pa.Table], name: str) -> None:
    table = tables[name]
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and (name, field.name) not in FORWARD_LOOKING:
            assert field.type.tz == "UTC"
            latest = pc.max(table.column(field.name)).as_py()
            assert latest is None or latest < DEFAULT_AS_OF, field.name


def test_patient_keys_are_icns_numbered_from_100001(tables: dict[str, pa.Table]) -> None:
    demographics = tables["patient_demographics"]
    keys = demographics.column("patient_key").to_pylist()
    assert keys == [f"ICN{100_000 + i}" for i in range(1, PATIENTS + 1)]
    assert demographics.column("icn").equals(demographics.column("patient_key"))


@pytest.mark.parametrize(
    "name", ["patient_medications_outpatient", "patient_medications_inpatient"]
)
def test_patient_icn_equals_patient_key_on_medication_tables(
    tables: dict[str, pa.Table], name: str
) -> None:
    assert tables[name].column("patient_icn").equals(tables[name].column("patient_key"))


def test_ages_are_between_25_and_95(tables: dict[str, pa.Table]) -> None:
    ages = tables["patient_demographics"].column("age").to_numpy()
    assert ages.min() >= 25
    assert ages.max() <= 95


def test_service_connected_percent_is_in_steps_of_ten(tables: dict[str, pa.Table]) -> None:
    percents = tables["patient_demographics"].column("service_connected_percent").drop_null()
    assert {int(p.as_py()) % 10 for p in percents} == {0}


def _vitals(tables: dict[str, pa.Table], abbr: str) -> pa.Table:
    vitals = tables["patient_vitals"]
    return vitals.filter(pc.equal(vitals.column("vital_abbr"), abbr))


def test_blood_pressure_systolic_exceeds_diastolic(tables: dict[str, pa.Table]) -> None:
    bp = _vitals(tables, "BP")
    assert pc.all(pc.greater(bp.column("systolic"), bp.column("diastolic"))).as_py()
    texts = _rows(bp, "result_value", "systolic", "diastolic")
    assert all(text == f"{s}/{d}" for text, s, d in texts)


def test_bmi_is_weight_kg_over_height_m_squared(tables: dict[str, pa.Table]) -> None:
    height_cm = dict(_rows(_vitals(tables, "HT"), "patient_key", "metric_value"))
    weights = _rows(_vitals(tables, "WT"), "patient_key", "taken_datetime", "metric_value")
    weight_kg = {(key, taken): kg for key, taken, kg in weights}
    bmis = _rows(_vitals(tables, "BMI"), "patient_key", "taken_datetime", "bmi")
    assert len(bmis) == len(weights)
    for key, taken, bmi in bmis:
        expected = float(weight_kg[key, taken]) / (float(height_cm[key]) / 100) ** 2
        assert abs(float(bmi) - expected) < 0.01


def test_vital_abbreviations_match_their_types(tables: dict[str, pa.Table]) -> None:
    pairs = set(_rows(tables["patient_vitals"], "vital_type", "vital_abbr"))
    assert {abbr for _, abbr in pairs} == {"BP", "P", "T", "R", "POX", "PN", "WT", "HT", "BMI"}
    assert len(pairs) == 9


def test_lab_flags_follow_the_reference_range(tables: dict[str, pa.Table]) -> None:
    rows = _rows(
        tables["patient_labs"],
        "result_numeric",
        "ref_range_low",
        "ref_range_high",
        "abnormal_flag",
        "is_abnormal",
    )
    for value, low, high, flag, abnormal in rows:
        below, above = low is not None and value < low, high is not None and value > high
        assert (flag in ("L", "LL")) == below
        assert (flag in ("H", "HH")) == above
        assert abnormal == (flag is not None)


def test_lab_results_of_one_draw_share_accession_panel_and_time(
    tables: dict[str, pa.Table],
) -> None:
    draws: dict[str, set[tuple[object, ...]]] = {}
    for accession, *rest in _rows(
        tables["patient_labs"],
        "accession_number",
        "patient_key",
        "panel_name",
        "collection_datetime",
    ):
        draws.setdefault(accession, set()).add(tuple(rest))
    assert all(len(v) == 1 for v in draws.values())
    assert len(draws) < tables["patient_labs"].num_rows / 3


def test_reaction_count_equals_reaction_rows(tables: dict[str, pa.Table]) -> None:
    by_allergy: dict[int, list[str]] = {}
    for sid, name in _rows(tables["patient_allergy_reactions"], "allergy_sid", "reaction_name"):
        by_allergy.setdefault(sid, []).append(name)
    for sid, count, text in _rows(
        tables["patient_allergies"], "allergy_sid", "reaction_count", "reactions"
    ):
        names = by_allergy.get(sid, [])
        assert count == len(names)
        assert text == (", ".join(names) if names else None)


def test_severity_rank_follows_severity(tables: dict[str, pa.Table]) -> None:
    pairs = set(_rows(tables["patient_allergies"], "severity", "severity_rank"))
    assert pairs <= {("MILD", 1), ("MODERATE", 2), ("SEVERE", 3), (None, None)}


def test_flag_rows_follow_their_last_history_action(tables: dict[str, pa.Table]) -> None:
    last: dict[int, tuple[object, str]] = {}
    for sid, when, name in sorted(
        _rows(tables["patient_flag_history"], "assignment_id", "history_date", "action_name")
    ):
        last[sid] = (when, name)
    for sid, active, when, action in _rows(
        tables["patient_flags"], "assignment_id", "is_active", "last_action_date", "last_action"
    ):
        assert last[sid] == (when, action)
        assert active == (action != "INACTIVATE")


def test_encounter_flags_follow_the_dates(tables: dict[str, pa.Table]) -> None:
    rows = _rows(
        tables["patient_encounters"],
        "discharge_datetime",
        "is_active",
        "length_of_stay",
        "is_extended_stay",
        "is_recent",
    )
    assert any(active for _, active, *_ in rows)
    for discharged, active, days, extended, recent in rows:
        assert active == (discharged is None)
        assert extended == (days > 14)
        assert recent == (active or (DEFAULT_AS_OF - discharged).days < 30)


def test_inpatient_doses_fall_inside_their_admission(tables: dict[str, pa.Table]) -> None:
    stays = {
        sid: (admit, discharge)
        for sid, admit, discharge in _rows(
            tables["patient_encounters"], "inpatient_id", "admit_datetime", "discharge_datetime"
        )
    }
    for sid, acted in _rows(
        tables["patient_medications_inpatient"], "inpatient_sid", "action_datetime"
    ):
        admit, discharge = stays[sid]
        assert admit <= acted <= (discharge or DEFAULT_AS_OF)


def test_outpatient_is_active_follows_the_computed_status(tables: dict[str, pa.Table]) -> None:
    rows = _rows(
        tables["patient_medications_outpatient"],
        "rx_status_computed",
        "is_active",
        "expiration_date",
    )
    assert {status for status, *_ in rows} == {"ACTIVE", "DISCONTINUED", "EXPIRED", "SUSPENDED"}
    for status, active, expires in rows:
        assert active == (status in ("ACTIVE", "SUSPENDED"))
        assert status != "EXPIRED" or expires <= DEFAULT_AS_OF


def test_source_systems_are_cdwwork_cdwwork2_and_calculated(tables: dict[str, pa.Table]) -> None:
    found = set(tables["patient_encounters"].column("source_system").to_pylist())
    found |= set(tables["patient_demographics"].column("source_system").to_pylist())
    assert found == {"CDWWork", "CDWWork2"}


def test_as_of_moves_every_event_before_it() -> None:
    as_of = datetime(2020, 6, 1, tzinfo=UTC)
    labs = generate(20, seed=1, as_of=as_of)["patient_labs"]
    assert pc.max(labs.column("result_datetime")).as_py() < as_of


@pytest.mark.parametrize("patients", [0, -1, synthetic.MAX_PATIENTS + 1])
def test_patient_count_out_of_range_is_refused(patients: int) -> None:
    with pytest.raises(UsageError, match="between 1 and"):
        generate(patients, seed=1)


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(UsageError, match="no time zone"):
        generate(5, seed=1, as_of=datetime(2025, 1, 1))


def test_write_parquet_round_trips(tmp_path: Path) -> None:
    tables = generate(5, seed=2)
    paths = write_parquet(tables, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{name}.parquet" for name in TABLES)
    for path in paths:
        assert pq.read_table(path).equals(tables[path.stem])
    assert not list(tmp_path.glob("*.partial"))


def test_cli_generate_writes_ten_parquet_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--patients", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("*.parquet"))) == 10
    assert "patient_vitals" in result.output
    assert "rows/s" in result.output


def test_cli_generate_refuses_zero_patients(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--patients", "0", "--out", str(tmp_path)])
    assert isinstance(result.exception, UsageError)
    assert "--patients must be between 1 and 1,000,000, not 0" in str(result.exception)
    assert not list(tmp_path.iterdir())


def test_cli_generate_refuses_a_file_as_out_dir(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(app, ["generate", "--patients", "3", "--out", str(target)])
    assert isinstance(result.exception, UsageError)
    assert "is a file" in str(result.exception)
