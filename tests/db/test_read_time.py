"""Facts relative to the present are computed when read, from the clock the caller passes.

Each test picks its own rows from the synthetic data, reads them at two moments and
checks the fact against a value worked out here from the row's stored dates, so a fact
frozen at load time (the stored ``age``, ``days_until_expiration``, ``is_recent``, ...)
fails the test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.dal import medications, patients
from medz1.dal.chart import patient_chart
from medz1.errors import UsageError

pytestmark = pytest.mark.db


def years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_age_follows_the_clock(read_session: Session) -> None:
    key, born = read_session.execute(
        text(
            "SELECT patient_key, dob FROM patient_demographics "
            "WHERE death_date IS NULL AND dob IS NOT NULL ORDER BY patient_key LIMIT 1"
        )
    ).one()
    for day in (date(2030, 6, 1), date(2041, 1, 1)):
        shown = patients.demographics(read_session, patient_key=key, as_of=at(day))
        assert shown is not None
        assert shown.age == years(born, day)
        chart = patient_chart(read_session, patient_key=key, as_of=at(day))
        assert chart is not None
        assert chart.demographics.age == years(born, day)
        found = patients.search_patients(read_session, query=key, as_of=at(day)).matches
        assert [p.age for p in found] == [years(born, day)]


def test_age_of_a_deceased_patient_is_the_age_at_death(read_session: Session) -> None:
    key, born, died = read_session.execute(
        text(
            "SELECT patient_key, dob, death_date FROM patient_demographics "
            "WHERE death_date IS NOT NULL AND dob IS NOT NULL ORDER BY patient_key LIMIT 1"
        )
    ).one()
    for day in (died + timedelta(days=400), date(2050, 1, 1)):
        shown = patients.demographics(read_session, patient_key=key, as_of=at(day))
        assert shown is not None
        assert shown.age == years(born, died)


def test_days_until_expiration_and_expiry_follow_the_clock(read_session: Session) -> None:
    key, rx, expires = read_session.execute(
        text(
            "SELECT patient_icn, rx_outpat_id, expiration_date "
            "FROM patient_medications_outpatient WHERE is_active AND expiration_date IS NOT NULL "
            "ORDER BY expiration_date DESC, rx_outpat_id LIMIT 1"
        )
    ).one()
    for before in (timedelta(days=40), timedelta(days=3, hours=2)):
        moment = expires - before
        active = medications.active_outpatient_medications(
            read_session, patient_key=key, as_of=moment
        )
        found = next(m for m in active if m.rx_outpat_id == rx)
        assert found.days_until_expiration == before.days
        assert found.is_active
    after = medications.active_outpatient_medications(
        read_session, patient_key=key, as_of=expires + timedelta(days=1)
    )
    assert rx not in {m.rx_outpat_id for m in after}


def test_an_open_admission_grows_longer_and_becomes_an_extended_stay(read_session: Session) -> None:
    key, stay, admitted = read_session.execute(
        text(
            "SELECT patient_key, inpatient_id, admit_datetime FROM patient_encounters "
            "WHERE is_active ORDER BY patient_key, inpatient_id LIMIT 1"
        )
    ).one()
    early = admitted + timedelta(days=2, hours=1)
    late = admitted + timedelta(days=20, hours=1)
    for moment, days in ((early, 2), (late, 20)):
        (shown,) = [
            e
            for e in patients.active_admissions(read_session, patient_key=key, as_of=moment)
            if e.inpatient_id == stay
        ]
        assert shown.length_of_stay == days
        assert shown.is_extended_stay is (days > patients.EXTENDED_STAY_DAYS)
        assert shown.is_recent


def test_a_discharge_stops_being_recent(read_session: Session) -> None:
    key, stay, discharged = read_session.execute(
        text(
            "SELECT patient_key, inpatient_id, discharge_datetime FROM patient_encounters "
            "WHERE NOT is_active ORDER BY discharge_datetime DESC LIMIT 1"
        )
    ).one()

    def recent(moment: datetime) -> bool:
        shown = patients.recent_encounters(read_session, patient_key=key, limit=1000, as_of=moment)
        return next(e for e in shown if e.inpatient_id == stay).is_recent

    assert recent(discharged + timedelta(days=patients.RECENT_DAYS - 1))
    assert not recent(discharged + timedelta(days=patients.RECENT_DAYS + 1))


def test_flag_review_status_follows_the_clock(read_session: Session) -> None:
    key, assignment, review = read_session.execute(
        text(
            "SELECT patient_key, assignment_id, next_review_date FROM patient_flags "
            "WHERE is_active AND next_review_date IS NOT NULL ORDER BY patient_key LIMIT 1"
        )
    ).one()

    def status(moment: datetime) -> str | None:
        flags = patients.active_flags(read_session, patient_key=key, as_of=moment)
        return next(f for f in flags if f.assignment_id == assignment).review_status

    assert status(review - timedelta(days=patients.DUE_SOON_DAYS + 5)) == "CURRENT"
    assert status(review - timedelta(days=2)) == "DUE SOON"
    assert status(review + timedelta(days=1)) == "OVERDUE"


def test_a_naive_clock_is_refused(read_session: Session) -> None:
    with pytest.raises(UsageError, match="no time zone"):
        patient_chart(read_session, patient_key="ICN100001", as_of=datetime(2030, 1, 1))


def test_without_a_clock_the_reads_use_the_current_time(read_session: Session) -> None:
    key, born = read_session.execute(
        text(
            "SELECT patient_key, dob FROM patient_demographics "
            "WHERE death_date IS NULL AND dob IS NOT NULL ORDER BY patient_key LIMIT 1"
        )
    ).one()
    shown = patients.demographics(read_session, patient_key=key)
    assert shown is not None
    assert shown.age == years(born, datetime.now(UTC).date())
