"""``patient_chart``: the whole dashboard in one statement, equal to the per-domain reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.dal import labs, medications, patients
from medz1.dal.chart import (
    PARTS,
    Chart,
    build_chart,
    chart_json,
    chart_params,
    patient_chart,
)
from medz1.errors import UsageError

pytestmark = pytest.mark.db


def patient_with(read_session: Session, table: str, condition: str = "true") -> str:
    return str(
        read_session.execute(
            text(f"SELECT min(patient_key) FROM {table} WHERE {condition}")
        ).scalar_one()
    )


def chart_of(read_session: Session, key: str) -> Chart:
    chart = patient_chart(read_session, patient_key=key)
    assert chart is not None
    return chart


def test_chart_is_read_with_exactly_one_statement(
    read_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_session.connection()  # connect (and pre-ping) before counting
    statements: list[object] = []
    execute = psycopg.Cursor.execute

    def counted(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(query)
        return execute(cursor, query, *args, **kwargs)

    # Every statement of the session, SQLAlchemy's and the chart's raw cursor alike, goes
    # through psycopg's Cursor.execute (RawCursor inherits it).
    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    chart_of(read_session, "ICN100001")
    assert len(statements) == 1


@pytest.mark.parametrize(
    ("table", "condition"),
    [
        ("patient_demographics", "true"),
        ("patient_flags", "is_active"),
        ("patient_allergies", "severity_rank = 3"),
        ("patient_encounters", "is_active"),
        ("patient_medications_outpatient", "is_active"),
    ],
)
def test_chart_equals_the_per_domain_reads(
    read_session: Session, table: str, condition: str
) -> None:
    key = patient_with(read_session, table, condition)
    now = datetime.now(UTC)
    chart = patient_chart(read_session, patient_key=key, as_of=now)
    assert chart is not None
    assert chart.demographics == patients.demographics(read_session, patient_key=key, as_of=now)
    assert list(chart.vitals) == patients.latest_vitals(read_session, patient_key=key)
    assert list(chart.flags) == patients.active_flags(read_session, patient_key=key, as_of=now)
    assert list(chart.allergies) == patients.allergies(read_session, patient_key=key)
    assert list(chart.outpatient_medications) == medications.active_outpatient_medications(
        read_session, patient_key=key, as_of=now
    )
    assert list(chart.inpatient_medications) == medications.current_inpatient_administrations(
        read_session, patient_key=key
    )
    assert list(chart.encounters) == patients.recent_encounters(
        read_session, patient_key=key, limit=5, as_of=now
    )
    assert list(chart.active_admissions) == patients.active_admissions(
        read_session, patient_key=key, as_of=now
    )
    assert list(chart.lab_panels) == labs.recent_lab_panels(read_session, patient_key=key, limit=5)


def test_chart_of_an_admitted_patient_shows_the_current_administrations(
    read_session: Session,
) -> None:
    chart = chart_of(read_session, patient_with(read_session, "patient_encounters", "is_active"))
    assert chart.active_admissions
    assert chart.inpatient_medications
    admissions = {e.inpatient_id for e in chart.active_admissions}
    assert {m.inpatient_sid for m in chart.inpatient_medications} <= admissions


def test_chart_values_are_typed(read_session: Session) -> None:
    key = patient_with(
        read_session,
        "patient_labs",
        "ref_range_low IS NOT NULL "
        "AND patient_key IN (SELECT patient_key FROM patient_vitals WHERE vital_abbr = 'WT') "
        "AND patient_key IN (SELECT patient_key FROM patient_demographics "
        "WHERE service_connected_percent IS NOT NULL)",
    )
    chart = chart_of(read_session, key)
    weight = next(v for v in chart.vitals if v.vital_abbr == "WT")
    assert isinstance(weight.numeric_value, Decimal)
    assert weight.taken_datetime.utcoffset() == timedelta(0)
    result = next(r for p in chart.lab_panels for r in p.results if r.ref_range_low is not None)
    assert isinstance(result.ref_range_low, Decimal)
    assert isinstance(chart.demographics.service_connected_percent, Decimal)


def test_chart_of_an_unknown_patient_is_none(read_session: Session) -> None:
    assert patient_chart(read_session, patient_key="ICN999999") is None


def test_chart_json_is_the_servers_text_and_builds_the_same_chart(read_session: Session) -> None:
    params = chart_params(patient_key="ICN100001")
    raw = chart_json(read_session, params)
    assert set(orjson.loads(raw)) == set(PARTS)
    assert build_chart(orjson.loads(raw)) == patient_chart(
        read_session, patient_key="ICN100001", as_of=params.as_of
    )


def test_chart_list_sizes_are_honoured_and_checked(read_session: Session) -> None:
    chart = patient_chart(read_session, patient_key="ICN100001", lab_panels=2, encounters=1)
    assert chart is not None
    assert len(chart.lab_panels) == 2
    assert len(chart.encounters) <= 1
    with pytest.raises(UsageError):
        patient_chart(read_session, patient_key="ICN100001", lab_panels=0)
