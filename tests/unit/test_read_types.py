"""Typed reads: parameters and result shape are declared once and checked, at import and by mypy."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from medz1.dal import chart, labs, medications, patients
from medz1.dal.json_reads import JsonRead, bind_names, many, row_array


@dataclass(frozen=True)
class Key:
    patient_key: str


@dataclass(frozen=True)
class KeyAndLimit:
    patient_key: str
    limit: int


def test_bind_names_skip_casts() -> None:
    assert bind_names("SELECT :a::text, x::int, :b_2 FROM t WHERE c = :a") == {"a", "b_2"}


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("(SELECT :patient_key || :limt)", KeyAndLimit),  # a misspelt parameter
        ("(SELECT :patient_key)", KeyAndLimit),  # a field the SQL never binds
        ("(SELECT :patient_key || :limit)", Key),  # a parameter with no field
    ],
    ids=["misspelt", "unused-field", "missing-field"],
)
def test_a_read_whose_sql_and_parameters_differ_is_refused(sql: str, params: type) -> None:
    with pytest.raises(TypeError, match="binds"):
        JsonRead(sql, params, many(Key))


def test_every_read_of_the_layer_binds_exactly_its_parameter_fields() -> None:
    reads = [
        value
        for module in (patients, medications, labs)
        for value in vars(module).values()
        if isinstance(value, JsonRead)
    ]
    assert len(reads) >= 13
    for read in reads:
        assert bind_names(read.expression) == set(read.names)


def test_chart_parameters_cover_every_part() -> None:
    fields = set(chart.ChartParams.__dataclass_fields__)
    for part in chart.PARTS.values():
        assert set(part.names) <= fields
    assert bind_names(chart.CHART_SQL) == fields
    assert "$1" in chart.CHART_NATIVE_SQL
    assert bind_names(chart.CHART_NATIVE_SQL) == set()


def test_decimals_travel_as_json_strings() -> None:
    # orjson would turn a JSON number into a binary float; as a string it stays exact.
    assert '"q"."numeric_value"::text' in row_array(patients.Vital, "q")
    assert '"q"."vital_sign_id"::text' not in row_array(patients.Vital, "q")


def test_time_relative_reads_take_the_clock_as_a_parameter() -> None:
    for read in (
        patients.DEMOGRAPHICS,
        patients.ACTIVE_FLAGS,
        patients.RECENT_ENCOUNTERS,
        patients.ACTIVE_ADMISSIONS,
        medications.ACTIVE_OUTPATIENT,
    ):
        assert "as_of" in read.names


SNIPPET = """
from sqlalchemy.orm import Session

from medz1.dal import labs, patients


def wrong(session: Session) -> None:
    patients.LATEST_VITALS.run(session, labs.PanelPage("ICN100001", 5, 0))


def right(session: Session) -> list[patients.Vital]:
    return patients.LATEST_VITALS.run(session, patients.PatientKey("ICN100001"))
"""


@pytest.mark.slow
def test_mypy_rejects_a_read_given_another_reads_parameters(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy comes with the dev extra")
    module = tmp_path / "snippet.py"
    module.write_text(SNIPPET)
    checked = subprocess.run(  # noqa: S603 - this interpreter running mypy on a fixed file
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(module),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, checked.stdout
    assert "snippet.py:8:" in errors[0]
    assert '"PanelPage"; expected "PatientKey"' in errors[0]


def test_the_migrated_search_index_is_on_the_expression_search_reads() -> None:
    spec = importlib.util.spec_from_file_location(
        "search_key_migration",
        Path(patients.__file__).parent.parent / "migrations/versions/0006_patient_search_key.py",
    )
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    # The reads name pg_catalog; the index was created unqualified (the same functions:
    # the planner matches the parsed expressions, which tests/db/test_search.py proves).
    read = patients.search_key("p").replace("p.", "").replace("pg_catalog.", "")
    assert read.replace(", 'NFD')", ", NFD)") == migration.SEARCH_KEY
