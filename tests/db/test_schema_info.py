"""Schema information queries and the seed's cross-schema query."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine, insert

from medz1.dal.stations import patients_at_home_site
from medz1.db.engine import unit_of_work
from medz1.errors import NotFoundError
from medz1.models import PatientDemographic, User
from medz1.ops import schema_info

pytestmark = pytest.mark.db


def test_list_schemas_counts_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        schemas = {s.name: s.tables for s in schema_info.list_schemas(conn)}
    assert schemas == {"public": 11, "auth": 5, "ai": 5, "admin": 3}


def test_list_tables_of_one_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        names = [t.name for t in schema_info.list_tables(conn, "auth")]
    assert names == ["audit_chain_head", "audit_logs", "break_glass_grants", "sessions", "users"]


def test_describe_shows_columns_keys_indexes_and_comments(engine: Engine) -> None:
    with engine.connect() as conn:
        described = schema_info.describe_table(conn, "auth.users")
    columns = {c.name: c for c in described.columns}
    assert columns["user_id"].primary_key
    assert not columns["user_id"].nullable
    assert columns["email"].type == "character varying(255)"
    assert columns["is_active"].default == "true"
    assert all(c.comment for c in described.columns)
    assert any(name == "ux_users_email_lower" for name, _ in described.indexes)
    assert described.comment


def test_describe_finds_bare_clinical_names(engine: Engine) -> None:
    with engine.connect() as conn:
        assert schema_info.describe_table(conn, "patient_vitals").schema == "public"


def test_describe_of_missing_table_suggests_near_names(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(NotFoundError) as caught:
        schema_info.describe_table(conn, "patient_vital")
    assert "patient_vitals" in caught.value.hint


def _patient(key: str, station: str, last: str) -> dict[str, object]:
    return {
        "patient_key": key,
        "icn": key,
        "name_last": last,
        "name_first": "Alex",
        "name_display": f"{last.upper()}, ALEX",
        "primary_station": station,
        "primary_station_name": f"Station {station}",
        "dob": date(1950, 1, 1),
    }


def test_patients_at_home_site_joins_public_and_auth(engine: Engine) -> None:
    user_id = uuid.uuid4()
    with unit_of_work(engine) as session:
        session.execute(
            insert(PatientDemographic),
            [
                _patient("ICN100001", "508", "Baker"),
                _patient("ICN100002", "516", "Adams"),
                _patient("ICN100003", "508", "Able"),
            ],
        )
        session.execute(
            insert(User),
            [
                {
                    "user_id": user_id,
                    "email": "clinician.alpha@va.gov",
                    "password_hash": "x",
                    "display_name": "Dr. Alpha",
                    "home_site_sta3n": 508,
                }
            ],
        )
    with unit_of_work(engine) as session:
        found = patients_at_home_site(session, user_id=user_id)
    assert [p.patient_key for p in found] == ["ICN100003", "ICN100001"]
    assert {p.primary_station for p in found} == {"508"}


def test_patients_at_home_site_of_unknown_user_is_empty(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        assert patients_at_home_site(session, user_id=uuid.uuid4()) == []


def test_rows_of_a_table_never_analysed_are_counted(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            insert(PatientDemographic),
            [_patient(f"ICN2000{i:02d}", "508", f"Name{i}") for i in range(12)],
        )
    with engine.connect() as conn:
        tables = {t.name: t.estimated_rows for t in schema_info.list_tables(conn, "public")}
    assert tables["patient_demographics"] == 12
    assert tables["patient_vitals"] == 0
