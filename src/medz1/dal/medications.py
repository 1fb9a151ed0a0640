"""Medication reads: active outpatient prescriptions and inpatient (BCMA) administrations.

med-z1 reads both tables by ``patient_icn`` (always equal to ``patient_key``), and their
indexes lead with it, so these reads filter on ``patient_icn``. Same conventions as
:mod:`medz1.dal.patients`: session first, keyword-only arguments, frozen records, no commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from medz1.dal.json_reads import AS_OF, JsonRead, columns, json_rows, many, replaced
from medz1.dal.patients import (
    PatientAsOf,
    PatientKey,
    aware,
    check_page,
    day_count,
    now,
    whole_days,
)


@dataclass(frozen=True)
class OutpatientMedication:
    """An outpatient prescription: drug, sig elements, fills, status and prescriber."""

    rx_outpat_id: int
    prescription_number: str | None
    drug_name_local: str | None
    drug_name_national: str | None
    generic_name: str | None
    trade_name: str | None
    drug_strength: str | None
    drug_unit: str | None
    dosage_form: str | None
    drug_class: str | None
    drug_class_code: str | None
    dea_schedule: str | None
    issue_date: datetime | None
    rx_status: str | None
    rx_status_computed: str | None
    """The status from the dates: ``EXPIRED`` once ``expiration_date`` is past ``as_of``."""
    rx_type: str | None
    quantity_ordered: Decimal | None
    days_supply: int | None
    refills_allowed: int | None
    refills_remaining: int | None
    unit_dose: str | None
    latest_fill_number: int | None
    latest_fill_date: datetime | None
    latest_fill_status: str | None
    latest_quantity_dispensed: Decimal | None
    latest_days_supply: int | None
    expiration_date: datetime | None
    discontinued_date: datetime | None
    discontinue_reason: str | None
    is_controlled_substance: bool | None
    is_active: bool | None
    """Active or suspended, and not expired at ``as_of`` (computed when read)."""
    days_until_expiration: int | None
    """Whole days from ``as_of`` to ``expiration_date`` (negative once expired)."""
    provider_name: str | None
    ordering_provider_name: str | None
    pharmacy_name: str | None
    clinic_name: str | None
    facility_name: str | None
    sta3n: str | None
    cmop_indicator: str | None
    mail_indicator: str | None
    source_system: str | None


@dataclass(frozen=True)
class InpatientAdministration:
    """One inpatient medication administration event (given, held, refused, ...)."""

    bcma_log_id: int
    inpatient_sid: int | None
    order_number: str | None
    drug_name_local: str | None
    drug_name_national: str | None
    generic_name: str | None
    trade_name: str | None
    drug_strength: str | None
    drug_unit: str | None
    dosage_form: str | None
    drug_class: str | None
    dea_schedule: str | None
    action_type: str | None
    action_status: str | None
    action_datetime: datetime | None
    scheduled_datetime: datetime | None
    ordered_datetime: datetime | None
    dosage_ordered: str | None
    dosage_given: str | None
    route: str | None
    unit_of_administration: str | None
    schedule_type: str | None
    schedule: str | None
    administration_variance: bool | None
    variance_type: str | None
    variance_reason: str | None
    is_iv_medication: bool | None
    iv_type: str | None
    infusion_rate: str | None
    is_controlled_substance: bool | None
    administered_by: str | None
    ordering_provider: str | None
    ward_name: str | None
    facility_name: str | None
    sta3n: str | None
    source_system: str | None


@dataclass(frozen=True)
class AdministrationPage:
    """Parameters of the paged read of inpatient administrations."""

    patient_key: str
    administrations_limit: int
    administrations_offset: int


@dataclass(frozen=True)
class AdministrationPageSince:
    """Parameters of the paged read of inpatient administrations since a moment."""

    patient_key: str
    since: datetime
    administrations_limit: int
    administrations_offset: int


@dataclass(frozen=True)
class CurrentAdministrations:
    """Parameters of the read of the current admissions' administrations."""

    patient_key: str
    administrations_limit: int


_ADMINISTRATION_COLUMNS = columns(InpatientAdministration, "m")
_ADMINISTRATION_ORDER = "q.action_datetime DESC, q.bcma_log_id DESC"

_UNEXPIRED = f"(m.expiration_date IS NULL OR m.expiration_date > {AS_OF})"
_OUTPATIENT_COLUMNS = columns(
    OutpatientMedication,
    "m",
    computed={
        "rx_status_computed": "CASE WHEN m.rx_status_computed IN ('ACTIVE', 'SUSPENDED') "
        f"AND NOT {_UNEXPIRED} THEN 'EXPIRED' ELSE m.rx_status_computed END",
        "is_active": f"(m.is_active AND {_UNEXPIRED})",
        "days_until_expiration": whole_days("m.expiration_date", AS_OF),
    },
)

# Served by the partial index ix_patient_medications_outpatient_icn_active; a prescription
# the loader stored as active is left out once it has expired.
ACTIVE_OUTPATIENT = JsonRead(
    json_rows(
        f"SELECT {_OUTPATIENT_COLUMNS} FROM patient_medications_outpatient m "
        f"WHERE m.patient_icn = :patient_key AND m.is_active = true AND {_UNEXPIRED}",
        OutpatientMedication,
        order="q.issue_date DESC NULLS LAST, q.rx_outpat_id DESC",
    ),
    PatientAsOf,
    many(OutpatientMedication),
)


#: The active outpatient prescriptions as stored, expired or not, with the stored values of
#: the fields :data:`ACTIVE_OUTPATIENT` computes: what the chart document keeps, so that
#: its reader applies :func:`at_time` with its own clock.
ACTIVE_OUTPATIENT_STORED = JsonRead(
    json_rows(
        f"SELECT {columns(OutpatientMedication, 'm')} FROM patient_medications_outpatient m "
        "WHERE m.patient_icn = :patient_key AND m.is_active = true",
        OutpatientMedication,
        order="q.issue_date DESC NULLS LAST, q.rx_outpat_id DESC",
    ),
    PatientKey,
    many(OutpatientMedication),
)


def at_time(stored: Iterable[OutpatientMedication], as_of: datetime) -> list[OutpatientMedication]:
    """The prescriptions of :data:`ACTIVE_OUTPATIENT_STORED` as :data:`ACTIVE_OUTPATIENT`
    reads them at ``as_of``: those expired by then left out, ``days_until_expiration``
    counted from ``as_of`` (the rule of :func:`medz1.dal.patients.whole_days`).

    Args:
        stored: Active prescriptions with their stored values.
        as_of: The aware moment of the read.
    """
    kept = []
    for medication in stored:
        expires = medication.expiration_date
        if expires is not None and expires <= as_of:
            continue
        days = None if expires is None else day_count(expires, as_of)
        kept.append(replaced(medication, days_until_expiration=days))
    return kept


def _administrations(*, since: bool) -> str:
    # DESC sorts NULLs first, as ix_patient_medications_inpatient_icn_action stores them.
    condition = "AND m.action_datetime >= :since " if since else ""
    return json_rows(
        f"SELECT {_ADMINISTRATION_COLUMNS} FROM patient_medications_inpatient m "
        f"WHERE m.patient_icn = :patient_key {condition}"
        "ORDER BY m.action_datetime DESC, m.bcma_log_id DESC "
        "LIMIT :administrations_limit OFFSET :administrations_offset",
        InpatientAdministration,
        order=_ADMINISTRATION_ORDER,
    )


INPATIENT_ADMINISTRATIONS = JsonRead(
    _administrations(since=False), AdministrationPage, many(InpatientAdministration)
)
INPATIENT_ADMINISTRATIONS_SINCE = JsonRead(
    _administrations(since=True), AdministrationPageSince, many(InpatientAdministration)
)

# Starts from the patient's active admissions (a partial index, usually no row) and only
# then, per admission, reads its administrations: LATERAL fixes that order, so a patient
# who is not in hospital costs one index probe, whatever the planner estimates.
CURRENT_ADMINISTRATIONS_SQL = json_rows(
    "SELECT m.* FROM patient_encounters e CROSS JOIN LATERAL ("
    f"  SELECT {_ADMINISTRATION_COLUMNS} FROM patient_medications_inpatient m"
    "  WHERE m.patient_icn = e.patient_key AND m.inpatient_sid = e.inpatient_id"
    "  ORDER BY m.action_datetime DESC, m.bcma_log_id DESC LIMIT :administrations_limit) m "
    "WHERE e.patient_key = :patient_key AND e.is_active = true "
    "ORDER BY m.action_datetime DESC, m.bcma_log_id DESC LIMIT :administrations_limit",
    InpatientAdministration,
    order=_ADMINISTRATION_ORDER,
)
CURRENT_ADMINISTRATIONS = JsonRead(
    CURRENT_ADMINISTRATIONS_SQL, CurrentAdministrations, many(InpatientAdministration)
)


def active_outpatient_medications(
    session: Session, *, patient_key: str, as_of: datetime | None = None
) -> list[OutpatientMedication]:
    """Active outpatient prescriptions (``is_active``, which includes suspended ones whose
    ``rx_status_computed`` says so) not expired at ``as_of`` (now when None), newest issue
    first.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        as_of: the moment (aware) expiry is judged at; None for now.

    Raises:
        UsageError: ``as_of`` is naive.
    """
    return ACTIVE_OUTPATIENT.run(session, PatientAsOf(patient_key, now(as_of)))


def inpatient_administrations(
    session: Session,
    *,
    patient_key: str,
    since: datetime | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[InpatientAdministration]:
    """Inpatient administrations, most recent first, paged; ``since`` an aware datetime.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        since: only administrations from this moment (aware) on; None for all.
        limit: administrations per page, 1 to 1000.
        offset: administrations to skip, 0 or more.

    Raises:
        UsageError: ``since`` is naive or the page is out of range.
    """
    check_page(limit, offset)
    if since is None:
        page = AdministrationPage(patient_key, limit, offset)
        return INPATIENT_ADMINISTRATIONS.run(session, page)
    since_page = AdministrationPageSince(patient_key, aware(since), limit, offset)
    return INPATIENT_ADMINISTRATIONS_SINCE.run(session, since_page)


def current_inpatient_administrations(
    session: Session, *, patient_key: str, limit: int = 10
) -> list[InpatientAdministration]:
    """The most recent administrations of the patient's current (undischarged) admissions;
    empty when the patient is not in hospital.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        limit: most administrations returned, 1 to 1000.

    Raises:
        UsageError: ``limit`` is out of range.
    """
    check_page(limit, 0)
    return CURRENT_ADMINISTRATIONS.run(session, CurrentAdministrations(patient_key, limit))
