"""Patient reads: search, demographics, counts per domain, vitals, flags, allergies, encounters.

Each function takes a session and keyword-only arguments, returns frozen records and never
commits. Clinical tables are read unqualified, as med-z1 reads them, and every read is
scoped by ``patient_key`` so it walks that patient's slice of an index. Each domain read is
a :class:`medz1.dal.json_reads.JsonRead` (one SQL expression returning JSON, its parameter
dataclass, its result builder); :mod:`medz1.dal.chart` combines the same expressions into
a single statement. Facts relative to the present are computed from the parameter
``as_of`` (the caller's clock, or now). Medications and labs live in
:mod:`medz1.dal.medications` and :mod:`medz1.dal.labs`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from medz1.dal.json_reads import (
    AS_OF,
    AS_OF_DAY,
    JsonRead,
    build_all,
    columns,
    exactly,
    json_row,
    json_rows,
    many,
    one,
    replaced,
)
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
    """Whole years at ``as_of`` (at death for a deceased patient), computed when read."""
    sex: str | None
    ssn_last4: str | None
    primary_station: str | None
    primary_station_name: str | None
    rank: int
    """How the patient matched: 0 exact ICN or SSN last four, 1 exact last name, 2 name
    prefix, 3 name contains the text."""


@dataclass(frozen=True)
class SearchResult:
    """One page of :func:`search_patients` and how many patients matched in all."""

    matches: list[PatientMatch]
    total: int


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
    """Whole years at ``as_of`` (at death for a deceased patient), computed when read."""
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
    """``OVERDUE``, ``DUE SOON`` (within :data:`DUE_SOON_DAYS`) or ``CURRENT`` at ``as_of``."""
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
    """Whole days; for an admission not yet discharged, until ``as_of`` (computed when read)."""
    encounter_status: str | None
    is_active: bool
    admission_category: str | None
    is_recent: bool
    """Discharged at most :data:`RECENT_DAYS` before ``as_of``, or still admitted."""
    is_extended_stay: bool
    """``length_of_stay`` over :data:`EXTENDED_STAY_DAYS` (computed when read)."""
    sta3n: str | None
    facility_name: str | None
    source_system: str | None


# --- Parameters: the bound parameters of each read, one frozen dataclass per shape ----------


@dataclass(frozen=True)
class PatientKey:
    """Parameters of a read scoped by patient only."""

    patient_key: str


@dataclass(frozen=True)
class PatientAsOf:
    """Parameters of a read scoped by patient that computes facts relative to ``as_of``."""

    patient_key: str
    as_of: datetime


@dataclass(frozen=True)
class EncounterPage:
    """Parameters of the paged encounter read."""

    patient_key: str
    as_of: datetime
    encounters_limit: int
    encounters_offset: int


@dataclass(frozen=True)
class VitalPage:
    """Parameters of the paged history of one vital type."""

    patient_key: str
    abbr: str
    limit: int
    offset: int


@dataclass(frozen=True)
class VitalPageSince:
    """Parameters of the paged history of one vital type since a moment."""

    patient_key: str
    abbr: str
    since: datetime
    limit: int
    offset: int


# --- Rules of the time-relative facts (med-z1's loader computes the same at load time) -----

#: An encounter is recent when it ended (or is still open) at most this many days ago.
RECENT_DAYS = 30
#: A stay longer than this many days is an extended stay.
EXTENDED_STAY_DAYS = 14
#: A flag whose next review is within this many days is ``DUE SOON``.
DUE_SOON_DAYS = 30


def age_at(alias: str) -> str:
    """SQL: whole years from ``alias.dob`` to the death date, or to the day of ``as_of``."""
    return (
        f"CASE WHEN {alias}.dob IS NULL THEN NULL ELSE CAST(extract(year FROM pg_catalog.age("
        f"CAST(coalesce({alias}.death_date, {AS_OF_DAY}) AS timestamp), "
        f"CAST({alias}.dob AS timestamp))) AS integer) END"
    )


def whole_days(later: str, earlier: str) -> str:
    """SQL: whole days from ``earlier`` to ``later`` (floor), NULL when either is NULL."""
    return f"CAST(pg_catalog.floor(extract(epoch FROM ({later}) - ({earlier})) / 86400) AS integer)"


def day_count(later: datetime, earlier: datetime) -> int:
    """Whole days from ``earlier`` to ``later`` (floor), as :func:`whole_days` counts in SQL.

    Args:
        later: the end (aware).
        earlier: the start (aware).

    Returns:
        Whole days, rounded down (negative when ``later`` is earlier).
    """
    return (later - earlier) // timedelta(days=1)


def age_on(dob: date | None, death_date: date | None, as_of: datetime) -> int | None:
    """Whole years from ``dob`` to ``death_date``, or to the UTC day of ``as_of``, as
    :func:`age_at` counts in SQL (PostgreSQL's ``age``: a birthday on 29 February is
    reached on 1 March in other years); None without a date of birth.

    Args:
        dob: date of birth; None gives None.
        death_date: date of death, or None for a living patient.
        as_of: the moment (aware) whose UTC day counts for a living patient.

    Returns:
        The age in whole years, or None.
    """
    if dob is None:
        return None
    end = death_date or as_of.astimezone(UTC).date()
    if end >= dob:
        return _years(dob, end)
    return -_years(end, dob)


def _years(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def demographics_at(found: Demographics, as_of: datetime) -> Demographics:
    """``found`` with its age at ``as_of`` (the rule of :func:`age_at`)."""
    return replaced(found, age=age_on(found.dob, found.death_date, as_of))


def encounter_at(found: Encounter, as_of: datetime) -> Encounter:
    """``found`` with the stay length, "recent" and "extended stay" of ``as_of``: the rules
    of :data:`RECENT_ENCOUNTERS` (an open stay lasts until ``as_of``).
    """
    stay = found.length_of_stay
    if found.discharge_datetime is None:
        stay = day_count(as_of, found.admit_datetime)
    ended = found.discharge_datetime or as_of
    return replaced(
        found,
        length_of_stay=stay,
        is_recent=ended >= as_of - timedelta(days=RECENT_DAYS),
        is_extended_stay=stay is not None and stay > EXTENDED_STAY_DAYS,
    )


def flag_at(found: Flag, as_of: datetime) -> Flag:
    """``found`` with its review status at ``as_of`` (the rule of :data:`ACTIVE_FLAGS`;
    the stored status when no review date is set).
    """
    review = found.next_review_date
    if review is None:
        return found
    if review < as_of:
        status = "OVERDUE"
    elif review < as_of + timedelta(days=DUE_SOON_DAYS):
        status = "DUE SOON"
    else:
        status = "CURRENT"
    return replaced(found, review_status=status)


# --- SQL: each a JSON expression over the fields of its parameter type ---------------------

#: Names folded for search: lower case, accents removed (NFD, combining marks dropped).
#: Built from immutable built-in functions only, so an expression index can serve it.
_MARKS = r"[\u0300-\u036f]"


def fold(expression: str) -> str:
    """SQL: ``expression`` in lower case without diacritics (``Núñez`` -> ``nunez``).

    An ASCII text (as many bytes as characters) has nothing to unaccent and is only
    lower-cased: normalizing and the regular expression are most of the cost of a search
    that ranks many matches.
    """
    e = expression
    return (
        f"CASE WHEN pg_catalog.octet_length({e}) = pg_catalog.char_length({e}) THEN pg_catalog.lower({e}) "
        f"ELSE pg_catalog.lower(pg_catalog.regexp_replace(pg_catalog.normalize({e}, 'NFD'), '{_MARKS}', '', 'g')) END"
    )


def search_key(alias: str) -> str:
    """SQL: the searchable name of patient row ``alias``: ``last, first``, folded.

    Indexes on exactly this expression over ``patient_demographics`` (a trigram GIN index
    for "contains", a btree for prefixes) serve name search.
    """
    return fold(f"coalesce({alias}.name_last, '') || ', ' || coalesce({alias}.name_first, '')")


#: Name search matches "contains" from this many characters on (trigram indexes need
#: three); a shorter text matches name prefixes only.
CONTAINS_MIN = 3

_SEARCH_COLUMNS = columns(PatientMatch, "d", skip=["rank"], computed={"age": age_at("d")})
_SEARCH_PAGE = "LIMIT :limit OFFSET :offset"
SEARCH_BY_ICN = text(
    f"SELECT {_SEARCH_COLUMNS}, 0 AS rank, pg_catalog.count(*) OVER () AS total "
    "FROM patient_demographics d WHERE d.patient_key = :icn "
    f"ORDER BY d.patient_key {_SEARCH_PAGE}"
)
SEARCH_BY_LAST4 = text(
    f"SELECT {_SEARCH_COLUMNS}, 0 AS rank, pg_catalog.count(*) OVER () AS total "
    "FROM patient_demographics d WHERE d.ssn_last4 = :last4 "
    f"ORDER BY {search_key('d')}, d.patient_key {_SEARCH_PAGE}"
)
# The key is computed once per matching row in the subquery and reused for the rank and
# the order; the WHERE clause repeats the indexed expression so the index serves it (and
# rechecks it: the trigram index is lossy). ``OFFSET 0`` keeps the planner from pulling
# the subquery up, which would put the key's expression back in place of each use of
# ``s.k`` and fold the name four times per match instead of twice (half the server time of
# a search matching thousands of patients). Only the page's rows are read whole (and get
# an age): the ranking and the count need only the key.
SEARCH_BY_NAME = text(
    f"SELECT {_SEARCH_COLUMNS}, m.rank, m.total FROM ("
    "  SELECT s.patient_key, s.k,"
    "  CASE WHEN s.k LIKE :exact ESCAPE '\\' THEN 1"
    "  WHEN s.k LIKE :prefix ESCAPE '\\' THEN 2 ELSE 3 END AS rank,"
    "  pg_catalog.count(*) OVER () AS total"
    f"  FROM (SELECT p.patient_key, {search_key('p')} AS k FROM patient_demographics p"
    f"        WHERE {search_key('p')} LIKE :pattern ESCAPE '\\' OFFSET 0) s"
    f"  ORDER BY rank, s.k, s.patient_key {_SEARCH_PAGE}"
    ") m JOIN patient_demographics d ON d.patient_key = m.patient_key "
    "ORDER BY m.rank, m.k, m.patient_key"
)

DEMOGRAPHICS = JsonRead(
    json_row(
        f"SELECT {columns(Demographics, 'd', computed={'age': age_at('d')})} "
        "FROM patient_demographics d WHERE d.patient_key = :patient_key",
        Demographics,
    ),
    PatientAsOf,
    one(Demographics),
)

COUNTS = JsonRead(
    json_row(
        "SELECT "
        + ", ".join(
            f"(SELECT pg_catalog.count(*) FROM {table} t WHERE t.{key} = :patient_key) AS {name}"
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
    ),
    PatientKey,
    exactly(DomainCounts),
)

# The newest row of each vital type without reading the patient's whole history: a loose
# index scan of ix_patient_vitals_patient_abbr_taken (one probe for each next type, one for
# its newest row) instead of DISTINCT ON, which reads and sorts every row of the patient.
LATEST_VITALS = JsonRead(
    json_rows(
        "WITH RECURSIVE types(abbr) AS ("
        "  SELECT pg_catalog.min(vital_abbr) FROM patient_vitals WHERE patient_key = :patient_key"
        "  UNION ALL"
        "  SELECT (SELECT pg_catalog.min(n.vital_abbr) FROM patient_vitals n"
        "          WHERE n.patient_key = :patient_key AND n.vital_abbr > t.abbr)"
        "  FROM types t WHERE t.abbr IS NOT NULL"
        ") "
        "SELECT v.* FROM types t CROSS JOIN LATERAL ("
        f"  SELECT {columns(Vital, 'v')} FROM patient_vitals v"
        "  WHERE v.patient_key = :patient_key AND v.vital_abbr = t.abbr"
        "  ORDER BY v.taken_datetime DESC, v.vital_sign_id DESC LIMIT 1) v",
        Vital,
        order="q.vital_abbr",
    ),
    PatientKey,
    many(Vital),
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


VITAL_HISTORY = JsonRead(_vital_history(since=False), VitalPage, many(Vital))
VITAL_HISTORY_SINCE = JsonRead(_vital_history(since=True), VitalPageSince, many(Vital))

_FLAG_HISTORY = json_rows(
    f"SELECT {columns(FlagAction, 'h')} FROM patient_flag_history h "
    "WHERE h.patient_key = f.patient_key AND h.assignment_id = f.assignment_id",
    FlagAction,
    order="q.history_date DESC, q.action_code DESC",
)
_REVIEW_STATUS = (
    "CASE WHEN f.next_review_date IS NULL THEN f.review_status "
    f"WHEN f.next_review_date < {AS_OF} THEN 'OVERDUE' "
    f"WHEN f.next_review_date < {AS_OF} + pg_catalog.make_interval(days => {DUE_SOON_DAYS}) "
    "THEN 'DUE SOON' ELSE 'CURRENT' END"
)
ACTIVE_FLAGS = JsonRead(
    json_rows(
        f"SELECT {columns(Flag, 'f', skip=['history'], computed={'review_status': _REVIEW_STATUS})}, "
        f"{_FLAG_HISTORY} AS history "
        "FROM patient_flags f WHERE f.patient_key = :patient_key AND f.is_active",
        Flag,
        order="q.flag_category, q.assignment_date DESC, q.assignment_id",
    ),
    PatientAsOf,
    many(Flag),
)

_REACTIONS = (
    "ARRAY(SELECT r.reaction_name FROM patient_allergy_reactions r "
    "WHERE r.patient_key = a.patient_key AND r.allergy_sid = a.allergy_sid "
    "ORDER BY r.reaction_id)"
)
ALLERGIES = JsonRead(
    json_rows(
        f"SELECT {columns(Allergy, 'a', skip=['reactions'])}, {_REACTIONS} AS reactions "
        "FROM patient_allergies a "
        "WHERE a.patient_key = :patient_key AND a.is_active IS NOT FALSE",
        Allergy,
        order="q.severity_rank DESC NULLS LAST, q.origination_date DESC, q.allergy_sid",
    ),
    PatientKey,
    many(Allergy),
)

_STAY_DAYS = (
    "CASE WHEN e.discharge_datetime IS NULL "
    f"THEN {whole_days(AS_OF, 'e.admit_datetime')} ELSE e.length_of_stay END"
)
_ENCOUNTER_COLUMNS = columns(
    Encounter,
    "e",
    computed={
        "length_of_stay": _STAY_DAYS,
        "is_recent": f"coalesce(e.discharge_datetime, {AS_OF}) >= "
        f"{AS_OF} - pg_catalog.make_interval(days => {RECENT_DAYS})",
        "is_extended_stay": f"coalesce({_STAY_DAYS} > {EXTENDED_STAY_DAYS}, false)",
    },
)
RECENT_ENCOUNTERS = JsonRead(
    json_rows(
        f"SELECT {_ENCOUNTER_COLUMNS} FROM patient_encounters e "
        "WHERE e.patient_key = :patient_key "
        "ORDER BY e.admit_datetime DESC, e.inpatient_id DESC "
        "LIMIT :encounters_limit OFFSET :encounters_offset",
        Encounter,
        order="q.admit_datetime DESC, q.inpatient_id DESC",
    ),
    EncounterPage,
    many(Encounter),
)
ACTIVE_ADMISSIONS = JsonRead(
    json_rows(
        f"SELECT {_ENCOUNTER_COLUMNS} FROM patient_encounters e "
        "WHERE e.patient_key = :patient_key AND e.is_active = true",
        Encounter,
        order="q.admit_datetime DESC, q.inpatient_id DESC",
    ),
    PatientAsOf,
    many(Encounter),
)


# --- Functions ------------------------------------------------------------------------------

_ICN = re.compile(r"^[A-Za-z]*\d[A-Za-z0-9]*$")
_LAST4 = re.compile(r"^\d{4}$")


def now(as_of: datetime | None = None) -> datetime:
    """``as_of`` (which must be aware), or the current time in UTC when None.

    Raises:
        UsageError: ``as_of`` is naive.
    """
    return datetime.now(UTC) if as_of is None else aware(as_of)


def search_patients(
    session: Session,
    *,
    query: str,
    limit: int = 20,
    offset: int = 0,
    as_of: datetime | None = None,
) -> SearchResult:
    """Patients matching ``query``, best match first, and how many matched in all.

    ``query`` is an ICN (``ICN100001``, any case: exact match), the last four digits of
    an SSN (``1234``: exact match), or a name: a last name or ``LAST, FIRST``, matched
    case- and accent-insensitively (``nunez`` finds ``Núñez``) as a prefix of, or (from
    :data:`CONTAINS_MIN` characters on) anywhere in, ``last, first``. ``%`` and ``_``
    match themselves. Ranked: exact ICN or SSN last four, exact last name (with the first
    name's prefix for ``LAST, FIRST``), prefix, contains; then by ``last, first`` folded,
    then ICN.

    Args:
        session: An open session.
        query: The search text.
        limit: Page size (1 to 1000).
        offset: Matches to skip.
        as_of: The moment ages are computed for (aware; now when None).

    Raises:
        UsageError: ``query`` is blank, the page is out of range, or ``as_of`` is naive.
    """
    statement, params = search_statement(query, limit=limit, offset=offset, as_of=as_of)
    rows = session.execute(statement, params).all()
    if not rows and offset:
        # The page is past the end: count the matches without a page.
        rows = session.execute(statement, {**params, "offset": 0, "limit": 1}).all()
        return SearchResult(matches=[], total=rows[0].total if rows else 0)
    return SearchResult(
        matches=build_all(PatientMatch, (row[:-1] for row in rows)),
        total=rows[0].total if rows else 0,
    )


def search_statement(
    query: str, *, limit: int = 20, offset: int = 0, as_of: datetime | None = None
) -> tuple[TextClause, dict[str, Any]]:
    """The statement :func:`search_patients` runs for ``query``, and its parameters (one
    of :data:`SEARCH_BY_LAST4`, :data:`SEARCH_BY_ICN`, :data:`SEARCH_BY_NAME`); for
    EXPLAIN and benchmarks.

    Raises:
        UsageError: As :func:`search_patients`.
    """
    check_page(limit, offset)
    cleaned = query.strip()
    if not cleaned.strip(","):
        raise UsageError(
            "the search text is empty",
            hint="give a last name (or part of it), an ICN or the SSN's last four digits",
        )
    params: dict[str, Any] = {"limit": limit, "offset": offset, "as_of": now(as_of)}
    statement: TextClause
    if _LAST4.match(cleaned):
        statement, params["last4"] = SEARCH_BY_LAST4, cleaned
    elif _ICN.match(cleaned):
        statement, params["icn"] = SEARCH_BY_ICN, cleaned.upper()
    else:
        last, comma, first = (fold_text(part.strip()) for part in cleaned.partition(","))
        key = f"{last}, {first}" if comma else last
        prefix = like_prefix(key)
        statement = SEARCH_BY_NAME
        params.update(
            exact=prefix if comma else like_prefix(f"{last}, "),
            prefix=prefix,
            pattern=prefix if len(key) < CONTAINS_MIN else "%" + prefix,
        )
    return statement, params


def fold_text(value: str) -> str:
    """``value`` folded as :func:`fold` folds it in SQL: lower case, diacritics removed."""
    decomposed = unicodedata.normalize("NFD", value)
    return "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F).lower()


def like_prefix(value: str) -> str:
    r"""A LIKE pattern matching strings that start with ``value`` (lower case, ``\`` escapes)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def demographics(
    session: Session, *, patient_key: str, as_of: datetime | None = None
) -> Demographics | None:
    """The patient's demographics (age at ``as_of``, now when None), or None when no such
    patient exists.

    Args:
        session: a session, read as the caller's role (row security applies).
        patient_key: the patient's ICN.
        as_of: the moment (aware) the age is computed for; None for now.

    Raises:
        UsageError: ``as_of`` is naive.
    """
    return DEMOGRAPHICS.run(session, PatientAsOf(patient_key, now(as_of)))


def domain_counts(session: Session, *, patient_key: str) -> DomainCounts:
    """Rows per clinical domain for the patient (all zero for an unknown patient).

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.

    Returns:
        Row counts per domain.
    """
    return COUNTS.run(session, PatientKey(patient_key))


def latest_vitals(session: Session, *, patient_key: str) -> list[Vital]:
    """The newest measurement of each vital type, ordered by type abbreviation.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.

    Returns:
        One measurement per vital type; empty when none.
    """
    return LATEST_VITALS.run(session, PatientKey(patient_key))


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
    check_page(limit, offset)
    abbr = vital_abbr.upper()
    if since is None:
        return VITAL_HISTORY.run(session, VitalPage(patient_key, abbr, limit, offset))
    page = VitalPageSince(patient_key, abbr, aware(since), limit, offset)
    return VITAL_HISTORY_SINCE.run(session, page)


def active_flags(
    session: Session, *, patient_key: str, as_of: datetime | None = None
) -> list[Flag]:
    """Active record flags, national (category I) first, each with its history; review
    status at ``as_of`` (now when None).

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        as_of: the moment (aware) the review status is judged at; None for now.

    Raises:
        UsageError: ``as_of`` is naive.
    """
    return ACTIVE_FLAGS.run(session, PatientAsOf(patient_key, now(as_of)))


def allergies(session: Session, *, patient_key: str) -> list[Allergy]:
    """Active allergies, most severe first (unknown severity last), then newest first.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.

    Returns:
        Allergies with their reactions; empty when none.
    """
    return ALLERGIES.run(session, PatientKey(patient_key))


def recent_encounters(
    session: Session,
    *,
    patient_key: str,
    limit: int = 10,
    offset: int = 0,
    as_of: datetime | None = None,
) -> list[Encounter]:
    """Encounters (admissions), newest admission first, paged; stay lengths and "recent"
    at ``as_of`` (now when None).

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        limit: encounters per page, 1 to 1000.
        offset: encounters to skip, 0 or more.
        as_of: the moment (aware) stay lengths are computed for; None for now.

    Raises:
        UsageError: The page is out of range or ``as_of`` is naive.
    """
    check_page(limit, offset)
    page = EncounterPage(patient_key, now(as_of), limit, offset)
    return RECENT_ENCOUNTERS.run(session, page)


def active_admissions(
    session: Session, *, patient_key: str, as_of: datetime | None = None
) -> list[Encounter]:
    """Admissions not yet discharged, newest first, stay lengths at ``as_of``.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        as_of: the moment (aware) stay lengths are computed for; None for now.

    Raises:
        UsageError: ``as_of`` is naive.
    """
    return ACTIVE_ADMISSIONS.run(session, PatientAsOf(patient_key, now(as_of)))


def check_page(limit: int, offset: int) -> None:
    """Refuse a page that cannot be meant.

    Args:
        limit: rows per page.
        offset: rows to skip.

    Raises:
        UsageError: ``limit`` is not 1 to 1000 or ``offset`` is negative.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be 1 to {MAX_PAGE}, not {limit}", hint="page with offset")
    if offset < 0:
        raise UsageError(f"offset must be 0 or more, not {offset}", hint="start at offset 0")


def aware(moment: datetime) -> datetime:
    """``moment`` unchanged when it carries a time zone.

    Raises:
        UsageError: ``moment`` is naive (it would be read in the server's time zone).
    """
    if moment.utcoffset() is None:
        raise UsageError(
            f"{moment.isoformat()} has no time zone", hint="pass an aware datetime, e.g. in UTC"
        )
    return moment
