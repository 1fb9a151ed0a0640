"""Patient reads: search, demographics, counts per domain, vitals, flags, allergies, encounters.

Each function takes a session and keyword-only arguments, returns frozen records and never
commits. Clinical tables are read unqualified, as med-z1 reads them, and every read is
scoped by ``patient_key`` so it walks that patient's slice of an index. Each domain read is
one SQL expression returning JSON (:mod:`medz1.dal.records`); :mod:`medz1.dal.chart`
combines the same expressions into a single statement. Medications and labs live in
:mod:`medz1.dal.medications` and :mod:`medz1.dal.labs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.dal.records import build, build_all, columns, fetch, json_row, json_rows
from medz1.errors import UsageError

MAX_PAGE = 1000


@dataclass(frozen=True)
class PatientMatch:
    """One patient found by :func:`search_patients`."""

    patient_key: str
    icn: str
    name_display: str | None
    name_last: str | None
    name_first: str | None
    dob: date | None
    age: int | None
    sex: str | None
    ssn_last4: str | None
    primary_station: str | None
    primary_station_name: str | None


@dataclass(frozen=True)
class Demographics:
    """The patient header: identity, address, facility and eligibility (no full SSN)."""

    patient_key: str
    icn: str
    ssn_last4: str | None
    name_last: str | None
    name_first: str | None
    name_display: str | None
    dob: date | None
    age: int | None
    sex: str | None
    gender: str | None
    primary_station: str | None
    primary_station_name: str | None
    address_street1: str | None
    address_street2: str | None
    address_city: str | None
    address_state: str | None
    address_zip: str | None
    phone_primary: str | None
    insurance_company_name: str | None
    marital_status: str | None
    religion: str | None
    service_connected_percent: Decimal | None
    deceased_flag: str | None
    death_date: date | None
    veteran_status: str | None
    source_system: str | None


@dataclass(frozen=True)
class DomainCounts:
    """How many rows a patient has in each clinical domain."""

    vitals: int
    labs: int
    outpatient_medications: int
    inpatient_medications: int
    encounters: int
    allergies: int
    flags: int


@dataclass(frozen=True)
class Vital:
    """One vital sign measurement."""

    vital_sign_id: int
    vital_type: str
    vital_abbr: str
    taken_datetime: datetime
    entered_datetime: datetime | None
    result_value: str | None
    numeric_value: Decimal | None
    systolic: int | None
    diastolic: int | None
    metric_value: Decimal | None
    unit_of_measure: str | None
    qualifiers: dict[str, Any] | None
    location_name: str | None
    location_type: str | None
    entered_by: str | None
    abnormal_flag: str | None
    bmi: Decimal | None


@dataclass(frozen=True)
class FlagAction:
    """One action in the history of a patient record flag assignment."""

    history_date: datetime
    action_code: int
    action_name: str
    entered_by_name: str | None
    approved_by_name: str | None
    history_comments: str | None
    event_site: str | None


@dataclass(frozen=True)
class Flag:
    """A patient record flag assignment with its history, newest action first."""

    assignment_id: int
    flag_name: str
    flag_category: str
    flag_type: str | None
    is_active: bool
    assignment_status: str
    assignment_date: datetime
    inactivation_date: datetime | None
    owner_site: str | None
    owner_site_name: str | None
    review_frequency_days: int | None
    next_review_date: datetime | None
    review_status: str | None
    last_action_date: datetime | None
    last_action: str | None
    last_action_by: str | None
    history: tuple[FlagAction, ...]


@dataclass(frozen=True)
class Allergy:
    """An allergy or adverse reaction with its reactions (signs and symptoms)."""

    allergy_sid: int
    allergen_local: str
    allergen_standardized: str
    allergen_type: str
    severity: str | None
    severity_rank: int | None
    reactions: tuple[str, ...]
    origination_date: datetime
    observed_date: datetime | None
    historical_or_observed: str | None
    originating_site: str | None
    originating_site_name: str | None
    originating_staff: str | None
    comment: str | None
    is_active: bool | None
    verification_status: str | None
    is_drug_allergy: bool | None
    source_system: str | None


@dataclass(frozen=True)
class Encounter:
    """An inpatient encounter (admission), with its discharge when there was one."""

    inpatient_id: int
    admit_datetime: datetime
    admit_location_name: str | None
    admit_location_type: str | None
    admit_diagnosis_code: str | None
    admitting_provider_name: str | None
    discharge_datetime: datetime | None
    discharge_location_name: str | None
    discharge_diagnosis_code: str | None
    discharge_diagnosis_text: str | None
    discharge_disposition: str | None
    length_of_stay: int | None
    encounter_status: str | None
    is_active: bool
    admission_category: str | None
    is_recent: bool
    is_extended_stay: bool
    sta3n: str | None
    facility_name: str | None
    source_system: str | None


# --- SQL: each a JSON expression over :patient_key (and its own paging parameters) --------

_SEARCH_COLUMNS = columns(PatientMatch, "d")
_SEARCH_ORDER = "ORDER BY lower(d.name_last), lower(d.name_first), d.patient_key"
SEARCH_BY_ICN = text(
    f"SELECT {_SEARCH_COLUMNS} FROM patient_demographics d WHERE d.patient_key = :icn"
)

DEMOGRAPHICS = json_row(
    f"SELECT {columns(Demographics, 'd')} FROM patient_demographics d "
    "WHERE d.patient_key = :patient_key",
    Demographics,
)

COUNTS = json_row(
    "SELECT "
    + ", ".join(
        f"(SELECT count(*) FROM {table} t WHERE t.{key} = :patient_key) AS {name}"
        for name, table, key in (
            ("vitals", "patient_vitals", "patient_key"),
            ("labs", "patient_labs", "patient_key"),
            ("outpatient_medications", "patient_medications_outpatient", "patient_icn"),
            ("inpatient_medications", "patient_medications_inpatient", "patient_icn"),
            ("encounters", "patient_encounters", "patient_key"),
            ("allergies", "patient_allergies", "patient_key"),
            ("flags", "patient_flags", "patient_key"),
        )
    ),
    DomainCounts,
)

# The newest row of each vital type without reading the patient's whole history: a loose
# index scan of ix_patient_vitals_patient_abbr_taken (one probe for each next type, one for
# its newest row) instead of DISTINCT ON, which reads and sorts every row of the patient.
LATEST_VITALS = json_rows(
    "WITH RECURSIVE types(abbr) AS ("
    "  SELECT min(vital_abbr) FROM patient_vitals WHERE patient_key = :patient_key"
    "  UNION ALL"
    "  SELECT (SELECT min(n.vital_abbr) FROM patient_vitals n"
    "          WHERE n.patient_key = :patient_key AND n.vital_abbr > t.abbr)"
    "  FROM types t WHERE t.abbr IS NOT NULL"
    ") "
    "SELECT v.* FROM types t CROSS JOIN LATERAL ("
    f"  SELECT {columns(Vital, 'v')} FROM patient_vitals v"
    "  WHERE v.patient_key = :patient_key AND v.vital_abbr = t.abbr"
    "  ORDER BY v.taken_datetime DESC, v.vital_sign_id DESC LIMIT 1) v",
    Vital,
    order="q.vital_abbr",
)


def _vital_history(*, since: bool) -> str:
    condition = "AND v.taken_datetime >= :since " if since else ""
    return json_rows(
        f"SELECT {columns(Vital, 'v')} FROM patient_vitals v "
        f"WHERE v.patient_key = :patient_key AND v.vital_abbr = :abbr {condition}"
        "ORDER BY v.taken_datetime DESC, v.vital_sign_id DESC LIMIT :limit OFFSET :offset",
        Vital,
        order="q.taken_datetime DESC, q.vital_sign_id DESC",
    )


_VITAL_HISTORY = _vital_history(since=False)
_VITAL_HISTORY_SINCE = _vital_history(since=True)

_FLAG_HISTORY = json_rows(
    f"SELECT {columns(FlagAction, 'h')} FROM patient_flag_history h "
    "WHERE h.patient_key = f.patient_key AND h.assignment_id = f.assignment_id",
    FlagAction,
    order="q.history_date DESC, q.action_code DESC",
)
ACTIVE_FLAGS = json_rows(
    f"SELECT {columns(Flag, 'f', skip=['history'])}, {_FLAG_HISTORY} AS history "
    "FROM patient_flags f WHERE f.patient_key = :patient_key AND f.is_active",
    Flag,
    order="q.flag_category, q.assignment_date DESC, q.assignment_id",
)

_REACTIONS = (
    "ARRAY(SELECT r.reaction_name FROM patient_allergy_reactions r "
    "WHERE r.patient_key = a.patient_key AND r.allergy_sid = a.allergy_sid "
    "ORDER BY r.reaction_id)"
)
ALLERGIES = json_rows(
    f"SELECT {columns(Allergy, 'a', skip=['reactions'])}, {_REACTIONS} AS reactions "
    "FROM patient_allergies a WHERE a.patient_key = :patient_key AND a.is_active IS NOT FALSE",
    Allergy,
    order="q.severity_rank DESC NULLS LAST, q.origination_date DESC, q.allergy_sid",
)

_ENCOUNTER_COLUMNS = columns(Encounter, "e")
RECENT_ENCOUNTERS = json_rows(
    f"SELECT {_ENCOUNTER_COLUMNS} FROM patient_encounters e WHERE e.patient_key = :patient_key "
    "ORDER BY e.admit_datetime DESC, e.inpatient_id DESC "
    "LIMIT :encounters_limit OFFSET :encounters_offset",
    Encounter,
    order="q.admit_datetime DESC, q.inpatient_id DESC",
)
ACTIVE_ADMISSIONS = json_rows(
    f"SELECT {_ENCOUNTER_COLUMNS} FROM patient_encounters e "
    "WHERE e.patient_key = :patient_key AND e.is_active = true",
    Encounter,
    order="q.admit_datetime DESC, q.inpatient_id DESC",
)


# --- Functions ------------------------------------------------------------------------------

_ICN = re.compile(r"^[A-Za-z]*\d[A-Za-z0-9]*$")


def search_patients(
    session: Session, *, query: str, limit: int = 20, offset: int = 0
) -> list[PatientMatch]:
    """Patients whose ICN is ``query``, or whose name starts with it.

    ``query`` is an ICN (``ICN100001``, any case: exact match), a last-name prefix
    (``smi``) or ``LAST, FIRST`` with both parts prefixes (``smith, jo``); names match
    case-insensitively and ``%`` or ``_`` in the query match themselves. Ordered by last
    name, first name, then ICN; paged with ``limit`` and ``offset``.

    Raises:
        UsageError: ``query`` is blank, or the page is out of range.
    """
    check_page(limit, offset)
    cleaned = query.strip()
    if not cleaned.strip(","):
        raise UsageError("the search text is empty", hint="give a last-name prefix or an ICN")
    if _ICN.match(cleaned):
        rows = session.execute(SEARCH_BY_ICN, {"icn": cleaned.upper()}).all()
        return build_all(PatientMatch, rows)[offset : offset + limit]
    last, _, first = (part.strip() for part in cleaned.partition(","))
    conditions = ["lower(d.name_last) LIKE :last ESCAPE '\\'"]
    params: dict[str, Any] = {"last": like_prefix(last), "limit": limit, "offset": offset}
    if first:
        conditions.append("lower(d.name_first) LIKE :first ESCAPE '\\'")
        params["first"] = like_prefix(first)
    statement = text(
        f"SELECT {_SEARCH_COLUMNS} FROM patient_demographics d WHERE {' AND '.join(conditions)} "
        f"{_SEARCH_ORDER} LIMIT :limit OFFSET :offset"
    )
    return build_all(PatientMatch, session.execute(statement, params).all())


def like_prefix(value: str) -> str:
    r"""A LIKE pattern matching strings that start with ``value`` (lower case, ``\`` escapes)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def demographics(session: Session, *, patient_key: str) -> Demographics | None:
    """The patient's demographics, or None when no such patient exists."""
    data = fetch(session, DEMOGRAPHICS, {"patient_key": patient_key})
    return None if data is None else build(Demographics, data)


def domain_counts(session: Session, *, patient_key: str) -> DomainCounts:
    """Rows per clinical domain for the patient (all zero for an unknown patient)."""
    return build(DomainCounts, fetch(session, COUNTS, {"patient_key": patient_key}))


def latest_vitals(session: Session, *, patient_key: str) -> list[Vital]:
    """The newest measurement of each vital type, ordered by type abbreviation."""
    return build_all(Vital, fetch(session, LATEST_VITALS, {"patient_key": patient_key}))


def vital_history(
    session: Session,
    *,
    patient_key: str,
    vital_abbr: str,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Vital]:
    """Measurements of one vital type (``BP``, ``WT``, ...), newest first, paged.

    Args:
        session: An open session.
        patient_key: The patient's ICN.
        vital_abbr: The type's abbreviation, any case.
        since: Only measurements taken at or after this aware datetime.
        limit: Page size (1 to 1000).
        offset: Rows to skip.

    Raises:
        UsageError: ``since`` is naive or the page is out of range.
    """
    params = history_params(
        patient_key=patient_key,
        since=since,
        limit=limit,
        offset=offset,
        abbr=vital_abbr.upper(),
    )
    expression = _VITAL_HISTORY if since is None else _VITAL_HISTORY_SINCE
    return build_all(Vital, fetch(session, expression, params))


def active_flags(session: Session, *, patient_key: str) -> list[Flag]:
    """Active record flags, national (category I) first, each with its history."""
    return build_all(Flag, fetch(session, ACTIVE_FLAGS, {"patient_key": patient_key}))


def allergies(session: Session, *, patient_key: str) -> list[Allergy]:
    """Active allergies, most severe first (unknown severity last), then newest first."""
    return build_all(Allergy, fetch(session, ALLERGIES, {"patient_key": patient_key}))


def recent_encounters(
    session: Session, *, patient_key: str, limit: int = 10, offset: int = 0
) -> list[Encounter]:
    """Encounters (admissions), newest admission first, paged.

    Raises:
        UsageError: The page is out of range.
    """
    check_page(limit, offset)
    params = {"patient_key": patient_key, "encounters_limit": limit, "encounters_offset": offset}
    return build_all(Encounter, fetch(session, RECENT_ENCOUNTERS, params))


def active_admissions(session: Session, *, patient_key: str) -> list[Encounter]:
    """Admissions not yet discharged, newest first."""
    return build_all(Encounter, fetch(session, ACTIVE_ADMISSIONS, {"patient_key": patient_key}))


def check_page(limit: int, offset: int) -> None:
    """Refuse a page that cannot be meant.

    Raises:
        UsageError: ``limit`` is not 1 to 1000 or ``offset`` is negative.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be 1 to {MAX_PAGE}, not {limit}", hint="page with offset")
    if offset < 0:
        raise UsageError(f"offset must be 0 or more, not {offset}", hint="start at offset 0")


def history_params(
    *,
    patient_key: str,
    since: datetime | None,
    limit: int,
    offset: int,
    limit_name: str = "limit",
    offset_name: str = "offset",
    **filters: Any,
) -> dict[str, Any]:
    """Bound parameters of a paged history read, ``since`` included only when given.

    Raises:
        UsageError: ``since`` is naive or the page is out of range.
    """
    check_page(limit, offset)
    params: dict[str, Any] = {
        "patient_key": patient_key,
        limit_name: limit,
        offset_name: offset,
        **filters,
    }
    if since is not None:
        params["since"] = aware(since)
    return params


def aware(moment: datetime | None) -> datetime | None:
    """``moment`` unchanged when it carries a time zone.

    Raises:
        UsageError: ``moment`` is naive (it would be read in the server's time zone).
    """
    if moment is not None and moment.utcoffset() is None:
        raise UsageError(
            f"{moment.isoformat()} has no time zone", hint="pass an aware datetime, e.g. in UTC"
        )
    return moment
