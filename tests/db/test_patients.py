"""The patient read layer on synthetic data, read as the application role (med_z1_user)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.dal import labs, medications, patients
from medz1.dal.json_reads import JsonRead, bind
from medz1.errors import UsageError

pytestmark = pytest.mark.db


def first_patient(read_session: Session, sql: str) -> str:
    """The smallest patient_key returned by ``sql`` (a SELECT of patient keys)."""
    return str(read_session.execute(text(f"SELECT min(k) FROM ({sql}) s(k)")).scalar_one())


def test_search_by_last_name_prefix_is_case_insensitive_and_ordered(read_session: Session) -> None:
    name = read_session.execute(text("SELECT name_last FROM patient_demographics LIMIT 1")).scalar()
    prefix = str(name)[:3].lower()
    found = patients.search_patients(read_session, query=prefix, limit=1000).matches
    assert found
    starting = [p for p in found if p.rank <= 2]
    assert starting
    assert all(p.name_last and p.name_last.lower().startswith(prefix) for p in starting)
    keys = [
        (p.rank, f"{(p.name_last or '').lower()}, {(p.name_first or '').lower()}", p.patient_key)
        for p in found
    ]
    assert keys == sorted(keys)


def test_search_by_last_comma_first_narrows_by_first_name(read_session: Session) -> None:
    last, first = read_session.execute(
        text("SELECT name_last, name_first FROM patient_demographics LIMIT 1")
    ).one()
    found = patients.search_patients(read_session, query=f"{last.lower()}, {first[:2]}").matches
    assert found
    assert all(p.name_first and p.name_first.startswith(first[:2]) for p in found)


def test_search_by_icn_is_exact_and_case_insensitive(read_session: Session) -> None:
    found = patients.search_patients(read_session, query="icn100002")
    assert [p.patient_key for p in found.matches] == ["ICN100002"]
    assert found.total == 1
    assert patients.search_patients(read_session, query="ICN10000").matches == []


def test_search_pages_with_limit_and_offset(read_session: Session) -> None:
    page_one = patients.search_patients(read_session, query="a", limit=2)
    page_two = patients.search_patients(read_session, query="a", limit=2, offset=2)
    both = patients.search_patients(read_session, query="a", limit=4)
    assert page_one.matches + page_two.matches == both.matches
    assert page_one.total == page_two.total == both.total > 4


@pytest.mark.parametrize("query", ["", "   ", ","])
def test_blank_search_is_a_usage_error(read_session: Session, query: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        patients.search_patients(read_session, query=query)


@pytest.mark.parametrize("query", ["%", "_"])
def test_like_wildcards_in_the_query_match_only_themselves(
    read_session: Session, query: str
) -> None:
    assert patients.search_patients(read_session, query=query).matches == []


def test_like_prefix_escapes_wildcards() -> None:
    assert patients.like_prefix("O_B%r\\") == "o\\_b\\%r\\\\%"


def test_demographics_of_a_patient_and_of_nobody(read_session: Session) -> None:
    found = patients.demographics(read_session, patient_key="ICN100001")
    assert found is not None
    assert found.name_display
    assert found.primary_station
    assert patients.demographics(read_session, patient_key="ICN999999") is None


def test_latest_vitals_are_the_newest_of_each_type(read_session: Session) -> None:
    latest = patients.latest_vitals(read_session, patient_key="ICN100001")
    assert len({v.vital_abbr for v in latest}) == len(latest) >= 5
    for vital in latest:
        newest = patients.vital_history(
            read_session, patient_key="ICN100001", vital_abbr=vital.vital_abbr.lower(), limit=1
        )
        assert newest == [vital]


def test_values_come_back_typed_as_stored(read_session: Session) -> None:
    bp = patients.vital_history(read_session, patient_key="ICN100001", vital_abbr="BP", limit=1)[0]
    raw = read_session.execute(
        text("SELECT taken_datetime, systolic FROM patient_vitals WHERE vital_sign_id = :id"),
        {"id": bp.vital_sign_id},
    ).one()
    assert (bp.taken_datetime, bp.systolic) == tuple(raw)
    assert bp.taken_datetime.utcoffset() == timedelta(0)
    weight = patients.vital_history(read_session, patient_key="ICN100001", vital_abbr="WT", limit=1)
    assert isinstance(weight[0].numeric_value, Decimal)


def test_records_are_frozen_and_equal_to_constructed_ones(read_session: Session) -> None:
    vital = patients.latest_vitals(read_session, patient_key="ICN100001")[0]
    assert vital == patients.Vital(**dataclasses.asdict(vital))
    with pytest.raises(dataclasses.FrozenInstanceError):
        vital.vital_abbr = "X"  # type: ignore[misc]


def test_vital_history_pages_newest_first_and_honours_since(read_session: Session) -> None:
    history = patients.vital_history(read_session, patient_key="ICN100001", vital_abbr="P", limit=6)
    times = [v.taken_datetime for v in history]
    assert times == sorted(times, reverse=True)
    since = patients.vital_history(
        read_session, patient_key="ICN100001", vital_abbr="P", since=times[2], limit=6
    )
    assert since == history[:3]


def test_naive_since_is_refused(read_session: Session) -> None:
    with pytest.raises(UsageError, match="no time zone"):
        patients.vital_history(
            read_session, patient_key="ICN100001", vital_abbr="BP", since=datetime(2020, 1, 1)
        )


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_page_out_of_range_is_refused(read_session: Session, limit: int, offset: int) -> None:
    with pytest.raises(UsageError):
        patients.recent_encounters(
            read_session, patient_key="ICN100001", limit=limit, offset=offset
        )


def test_active_flags_carry_their_history_newest_first(read_session: Session) -> None:
    key = first_patient(read_session, "SELECT patient_key FROM patient_flags WHERE is_active")
    flags = patients.active_flags(read_session, patient_key=key)
    assert flags
    assert all(f.is_active and f.history for f in flags)
    dates = [a.history_date for a in flags[0].history]
    assert dates == sorted(dates, reverse=True)


def test_allergies_most_severe_first_with_their_reactions(read_session: Session) -> None:
    key = first_patient(
        read_session,
        "SELECT patient_key FROM patient_allergies GROUP BY patient_key "
        "HAVING count(DISTINCT severity_rank) > 1",
    )
    found = patients.allergies(read_session, patient_key=key)
    ranks = [a.severity_rank or 0 for a in found]
    assert ranks == sorted(ranks, reverse=True)
    counts: dict[int, int] = dict(
        read_session.execute(
            text(
                "SELECT allergy_sid, reaction_count FROM patient_allergies WHERE patient_key = :k"
            ),
            {"k": key},
        ).all()
    )
    assert [len(a.reactions) for a in found] == [counts[a.allergy_sid] for a in found]


def test_active_outpatient_medications_are_the_active_ones(read_session: Session) -> None:
    key = first_patient(
        read_session, "SELECT patient_icn FROM patient_medications_outpatient WHERE is_active"
    )
    meds = medications.active_outpatient_medications(read_session, patient_key=key)
    assert meds
    assert all(m.is_active and m.rx_status_computed in {"ACTIVE", "SUSPENDED"} for m in meds)


def test_inpatient_administrations_page_most_recent_first(read_session: Session) -> None:
    key = first_patient(read_session, "SELECT patient_icn FROM patient_medications_inpatient")
    first = medications.inpatient_administrations(read_session, patient_key=key, limit=3)
    second = medications.inpatient_administrations(read_session, patient_key=key, limit=3, offset=3)
    times = [m.action_datetime for m in first + second]
    assert len(times) == 6
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]


def test_current_administrations_need_an_active_admission(read_session: Session) -> None:
    discharged = first_patient(
        read_session,
        "SELECT patient_icn FROM patient_medications_inpatient EXCEPT "
        "SELECT patient_key FROM patient_encounters WHERE is_active",
    )
    assert medications.inpatient_administrations(read_session, patient_key=discharged)
    assert medications.current_inpatient_administrations(read_session, patient_key=discharged) == []


def test_encounters_newest_first_and_active_admissions_undischarged(read_session: Session) -> None:
    key = first_patient(read_session, "SELECT patient_key FROM patient_encounters WHERE is_active")
    recent = patients.recent_encounters(read_session, patient_key=key)
    assert [e.admit_datetime for e in recent] == sorted(
        (e.admit_datetime for e in recent), reverse=True
    )
    active = patients.active_admissions(read_session, patient_key=key)
    assert active
    assert all(e.is_active and e.discharge_datetime is None for e in active)


def test_recent_lab_panels_group_results_by_accession(read_session: Session) -> None:
    panels = labs.recent_lab_panels(read_session, patient_key="ICN100001", limit=4)
    assert len(panels) == 4
    assert [p.collection_datetime for p in panels] == sorted(
        (p.collection_datetime for p in panels), reverse=True
    )
    for panel in panels:
        expected = read_session.execute(
            text(
                "SELECT lab_chem_sid FROM patient_labs WHERE patient_key = 'ICN100001' "
                "AND accession_number = :a ORDER BY lab_test_sid, lab_chem_sid"
            ),
            {"a": panel.accession_number},
        ).scalars()
        assert [r.lab_chem_sid for r in panel.results] == list(expected)
        assert all(r.result_unit and r.ref_range_text for r in panel.results if r.result_numeric)


def test_lab_trend_by_name_or_by_loinc_code(read_session: Session) -> None:
    by_name = labs.lab_trend(read_session, patient_key="ICN100001", test="sodium")
    assert by_name
    assert {r.lab_test_name for r in by_name} == {"SODIUM"}
    loinc = by_name[0].loinc_code
    assert loinc
    assert labs.lab_trend(read_session, patient_key="ICN100001", test=loinc) == by_name


def test_domain_counts_count_the_patients_rows(read_session: Session) -> None:
    counts = patients.domain_counts(read_session, patient_key="ICN100001")
    vitals = read_session.execute(
        text("SELECT count(*) FROM patient_vitals WHERE patient_key = 'ICN100001'")
    ).scalar_one()
    assert counts.vitals == vitals > 0
    assert counts.labs > 0
    assert patients.domain_counts(read_session, patient_key="nobody") == patients.DomainCounts(
        0, 0, 0, 0, 0, 0, 0
    )


NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("read", "params"),
    [
        (patients.LATEST_VITALS, patients.PatientKey("ICN100001")),
        (labs.RECENT_PANELS, labs.PanelPage("ICN100001", 5, 0)),
        (medications.ACTIVE_OUTPATIENT, patients.PatientAsOf("ICN100001", NOW)),
    ],
    ids=["vitals-latest", "labs-recent", "outpatient-active"],
)
def test_patient_scoped_reads_use_an_index(
    read_session: Session, read: JsonRead[Any, Any], params: object
) -> None:
    plan = read_session.execute(
        text(f"EXPLAIN SELECT ({read.expression})::text"), bind(params, read.names)
    ).scalars()
    plan_text = "\n".join(plan)
    assert "Index" in plan_text
    assert "Seq Scan" not in plan_text


def test_demographics_of_nobody_is_none(read_session: Session) -> None:
    assert patients.DEMOGRAPHICS.run(read_session, patients.PatientAsOf("nobody", NOW)) is None
