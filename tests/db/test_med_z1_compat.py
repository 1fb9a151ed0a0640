"""med-z1's own query shapes run unchanged against a medz1 database loaded with demo data.

The med-z1 application selects the contract's columns by name, from unqualified clinical
tables (``FROM patient_vitals``) and qualified auth tables (``FROM auth.users``), as the
application role ``med_z1_user``. These queries are written for this test in the shapes
the viewer uses (newest first, one patient at a time) and check that the values found
look like a real chart.

Station scoping (row-level security) is off in the database these tests read, as an
operator sets ``MEDZ1_STATION_SCOPING=false`` for a med-z1 that sets no station. With
scoping on, the same unchanged queries run too, after one ``set_config('medz1.station',
..., true)`` per transaction, and see exactly that station's patients
(:func:`test_viewer_reads_run_unchanged_under_station_scoping`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import app_engine, synthetic_database

pytestmark = pytest.mark.db

CONTRACT: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "contract" / "med_z1_tables.json").read_text(encoding="utf-8")
)
PATIENTS = 50

#: How the viewer reads each table: the patient column it filters on, and its newest-first order.
VIEWER_READS = {
    "patient_demographics": ("patient_key", "patient_key"),
    "patient_vitals": ("patient_key", "taken_datetime DESC"),
    "patient_labs": ("patient_key", "collection_datetime DESC"),
    "patient_medications_outpatient": ("patient_icn", "issue_date DESC"),
    "patient_medications_inpatient": ("patient_icn", "action_datetime DESC"),
    "patient_encounters": ("patient_key", "admit_datetime DESC"),
    "patient_allergies": ("patient_key", "severity_rank DESC NULLS LAST, origination_date DESC"),
    "patient_allergy_reactions": ("patient_key", "allergy_sid, reaction_name"),
    "patient_flags": ("patient_key", "assignment_date DESC"),
    "patient_flag_history": ("patient_key", "history_date DESC"),
}


@pytest.fixture(scope="module")
def app(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    """med_z1_user on a database of 50 demo patients loaded from Parquet by the loader."""
    folder = tmp_path_factory.mktemp("compat")
    with (
        synthetic_database(pg_server, role_plan, folder, patients=PATIENTS, seed=5) as target,
        app_engine(target, role_plan) as engine,
    ):
        yield engine


@pytest.fixture
def conn(app: Engine) -> Iterator[Connection]:
    with app.connect() as connection:
        yield connection


def rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def test_every_clinical_table_of_the_contract_has_a_viewer_read() -> None:
    assert {t.removeprefix("public.") for t in CONTRACT if t.startswith("public.")} == set(
        VIEWER_READS
    )


@pytest.mark.parametrize("table", sorted(VIEWER_READS))
def test_viewer_selects_every_contract_column_by_name(conn: Connection, table: str) -> None:
    key_column, order = VIEWER_READS[table]
    columns = list(CONTRACT[f"public.{table}"])
    patient = conn.execute(text(f"SELECT min({key_column}) FROM {table}")).scalar_one()
    found = rows(
        conn,
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key_column} = :icn ORDER BY {order}",
        icn=patient,
    )
    assert found
    assert list(found[0]) == columns
    assert all(r[key_column] == patient for r in found)


@pytest.mark.parametrize("table", ["auth.users", "auth.sessions", "auth.audit_logs"])
def test_auth_tables_are_read_qualified_by_name(conn: Connection, table: str) -> None:
    columns = list(CONTRACT[table])
    result = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table} LIMIT 5"))
    assert list(result.keys()) == columns


def test_every_patient_has_demographics_with_a_name_and_a_station(conn: Connection) -> None:
    found = rows(
        conn,
        "SELECT icn, name_last, name_first, name_display, dob, primary_station, "
        "primary_station_name FROM patient_demographics ORDER BY name_last, name_first",
    )
    assert len(found) == PATIENTS
    assert all(re.fullmatch(r"ICN1000[0-9]{2}", p["icn"]) for p in found)
    assert all(p["name_last"] and p["name_first"] and p["dob"] for p in found)
    assert all(re.fullmatch(r"[0-9]{3}", p["primary_station"]) for p in found)
    assert all(p["primary_station_name"] for p in found)


def test_latest_vitals_per_type_look_like_vital_signs(conn: Connection) -> None:
    latest = rows(
        conn,
        "SELECT DISTINCT ON (vital_type) vital_type, vital_abbr, result_value, numeric_value, "
        "systolic, diastolic, unit_of_measure, abnormal_flag, taken_datetime "
        "FROM patient_vitals WHERE patient_key = :icn ORDER BY vital_type, taken_datetime DESC",
        icn="ICN100001",
    )
    by_abbr = {v["vital_abbr"]: v for v in latest}
    assert {"BP", "P", "T", "WT"} <= set(by_abbr)
    bp = by_abbr["BP"]
    assert 60 < bp["diastolic"] < bp["systolic"] < 260
    assert bp["result_value"] == f"{bp['systolic']}/{bp['diastolic']}"
    assert bp["unit_of_measure"] == "mmHg"
    assert 94 < by_abbr["T"]["numeric_value"] < 106
    assert 30 < by_abbr["P"]["numeric_value"] < 200


def test_blood_pressure_rows_always_have_systolic_above_diastolic(conn: Connection) -> None:
    bad = conn.execute(
        text(
            "SELECT count(*) FROM patient_vitals WHERE vital_abbr = 'BP' "
            "AND NOT (systolic > diastolic)"
        )
    ).scalar_one()
    assert bad == 0


def test_active_flags_have_a_category_and_a_review_date(conn: Connection) -> None:
    flags = rows(
        conn,
        "SELECT patient_key, flag_name, flag_category, assignment_status, next_review_date "
        "FROM patient_flags WHERE is_active = true ORDER BY assignment_date DESC",
    )
    assert flags
    assert {f["flag_category"] for f in flags} <= {"I", "II"}
    assert all(f["flag_name"] and f["assignment_status"] == "ACTIVE" for f in flags)


def test_active_outpatient_medications_by_patient_icn(conn: Connection) -> None:
    icn = conn.execute(
        text("SELECT min(patient_icn) FROM patient_medications_outpatient WHERE is_active = true")
    ).scalar_one()
    meds = rows(
        conn,
        "SELECT drug_name_local, generic_name, rx_status_computed, issue_date, "
        "expiration_date, days_supply, refills_remaining FROM patient_medications_outpatient "
        "WHERE patient_icn = :icn AND is_active = true ORDER BY issue_date DESC",
        icn=icn,
    )
    assert meds
    assert all(m["drug_name_local"] and m["days_supply"] > 0 for m in meds)
    assert all(m["expiration_date"] > m["issue_date"] for m in meds)


def test_encounters_newest_first_discharge_after_admission(conn: Connection) -> None:
    key = conn.execute(text("SELECT min(patient_key) FROM patient_encounters")).scalar_one()
    stays = rows(
        conn,
        "SELECT admit_datetime, discharge_datetime, length_of_stay, encounter_status, "
        "facility_name FROM patient_encounters WHERE patient_key = :icn "
        "ORDER BY admit_datetime DESC",
        icn=key,
    )
    assert stays
    for stay in stays:
        assert stay["facility_name"]
        if stay["discharge_datetime"] is not None:
            assert stay["discharge_datetime"] >= stay["admit_datetime"]
            assert stay["length_of_stay"] >= 0


def test_recent_labs_have_units_and_reference_ranges(conn: Connection) -> None:
    recent = rows(
        conn,
        "SELECT lab_test_name, panel_name, result_value, result_numeric, result_unit, "
        "ref_range_text, ref_range_low, ref_range_high, abnormal_flag, collection_datetime "
        "FROM patient_labs WHERE patient_key = :icn ORDER BY collection_datetime DESC LIMIT 50",
        icn="ICN100001",
    )
    assert len(recent) == 50
    numeric = [r for r in recent if r["result_numeric"] is not None]
    assert numeric
    assert all(r["result_unit"] and r["ref_range_text"] for r in numeric)
    bounded = [r for r in numeric if None not in (r["ref_range_low"], r["ref_range_high"])]
    assert bounded
    assert all(r["ref_range_low"] < r["ref_range_high"] for r in bounded)
    high = [r for r in numeric if r["abnormal_flag"] in ("H", "HH") and r["ref_range_high"]]
    assert all(r["result_numeric"] > r["ref_range_high"] for r in high)


def test_allergies_with_their_reactions_most_severe_first(conn: Connection) -> None:
    key = conn.execute(
        text("SELECT min(patient_key) FROM patient_allergies WHERE reaction_count > 0")
    ).scalar_one()
    found = rows(
        conn,
        "SELECT a.allergen_standardized, a.severity, a.severity_rank, a.reaction_count, "
        "(SELECT count(*) FROM patient_allergy_reactions r WHERE r.allergy_sid = a.allergy_sid) "
        "AS reactions FROM patient_allergies a WHERE a.patient_key = :icn "
        "ORDER BY a.severity_rank DESC NULLS LAST, a.origination_date DESC",
        icn=key,
    )
    assert found
    assert all(a["reactions"] == a["reaction_count"] for a in found)
    assert {a["severity"] for a in found} <= {"MILD", "MODERATE", "SEVERE", None}


@pytest.fixture(scope="module")
def scoped(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Engine, Engine]]:
    """The application role and the administrator on a database with scoping on."""
    folder = tmp_path_factory.mktemp("compat-scoped")
    with (
        synthetic_database(
            pg_server, role_plan, folder, patients=20, seed=5, station_scoping=True
        ) as target,
        app_engine(target, role_plan) as engine,
    ):
        admin = make_engine(target.url)
        try:
            yield engine, admin
        finally:
            admin.dispose()


@pytest.mark.parametrize("table", sorted(VIEWER_READS))
def test_viewer_reads_run_unchanged_under_station_scoping(
    scoped: tuple[Engine, Engine], table: str
) -> None:
    app, admin = scoped
    key_column, order = VIEWER_READS[table]
    columns = ", ".join(CONTRACT[f"public.{table}"])
    query = f"SELECT {columns} FROM {table} WHERE {key_column} = :icn ORDER BY {order}"
    with admin.connect() as conn:
        counts = {
            (str(k), str(s)): int(n)
            for k, s, n in conn.execute(
                text(
                    f"SELECT t.{key_column}, d.primary_station, count(*) FROM {table} t "
                    f"JOIN patient_demographics d ON d.patient_key = t.{key_column} GROUP BY 1, 2"
                )
            )
        }
    (patient, station) = next(iter(sorted(counts)))
    foreign = next(k for k, s in sorted(counts) if s != station)
    with app.connect() as conn:
        assert rows(conn, query, icn=patient) == []  # no station set: nothing
        conn.execute(text("SELECT set_config('medz1.station', :s, true)"), {"s": station})
        assert len(rows(conn, query, icn=patient)) == counts[(patient, station)]
        assert rows(conn, query, icn=foreign) == []
