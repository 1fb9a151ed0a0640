"""Response models of the JSON API (``/api/v1``), kept apart from the read layer's records.

Each ``*Out`` model mirrors a frozen record of :mod:`medz1.dal` field by field and is built
from it with ``model_validate(record)`` (attributes are read, nothing is copied by hand);
``tests/api/test_api_models.py`` checks that every field still exists in the record, so a
change in the read layer fails a test instead of a response. Dates and times are ISO 8601
in UTC; decimals are strings (no binary rounding).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class PatientMatchOut(_Out):
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


class DemographicsOut(_Out):
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


class VitalOut(_Out):
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


class FlagActionOut(_Out):
    """One action in the history of a patient record flag assignment."""

    history_date: datetime
    action_code: int
    action_name: str
    entered_by_name: str | None
    approved_by_name: str | None
    history_comments: str | None
    event_site: str | None


class FlagOut(_Out):
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
    history: list[FlagActionOut]


class AllergyOut(_Out):
    """An allergy or adverse reaction with its reactions (signs and symptoms)."""

    allergy_sid: int
    allergen_local: str
    allergen_standardized: str
    allergen_type: str
    severity: str | None
    severity_rank: int | None
    reactions: list[str]
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


class EncounterOut(_Out):
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


class OutpatientMedicationOut(_Out):
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
    days_until_expiration: int | None
    provider_name: str | None
    ordering_provider_name: str | None
    pharmacy_name: str | None
    clinic_name: str | None
    facility_name: str | None
    sta3n: str | None
    cmop_indicator: str | None
    mail_indicator: str | None
    source_system: str | None


class InpatientAdministrationOut(_Out):
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


class PanelResultOut(_Out):
    """One result of a lab panel; accession, collection time and specimen are the panel's."""

    lab_chem_sid: int
    lab_test_sid: int
    lab_test_name: str
    loinc_code: str | None
    result_value: str | None
    result_numeric: Decimal | None
    result_unit: str | None
    abnormal_flag: str | None
    is_abnormal: bool | None
    is_critical: bool | None
    ref_range_text: str | None
    ref_range_low: Decimal | None
    ref_range_high: Decimal | None
    result_datetime: datetime


class LabPanelOut(_Out):
    """The results of one accession (one specimen collection), in the panel's test order."""

    accession_number: str
    panel_name: str | None
    collection_datetime: datetime
    specimen_type: str | None
    collection_location: str | None
    sta3n: str | None
    results: list[PanelResultOut]


class ChartOut(_Out):
    """The patient dashboard: the seven domains read with one statement."""

    demographics: DemographicsOut
    vitals: list[VitalOut]
    flags: list[FlagOut]
    allergies: list[AllergyOut]
    outpatient_medications: list[OutpatientMedicationOut]
    inpatient_medications: list[InpatientAdministrationOut]
    encounters: list[EncounterOut]
    active_admissions: list[EncounterOut]
    lab_panels: list[LabPanelOut]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` and whether a next page exists."""

    items: list[T]
    page: int = Field(description="1-based page number")
    size: int = Field(description="largest number of items on a page")
    has_next: bool = Field(description="true when page + 1 holds items")


class LoginIn(BaseModel):
    """Credentials of ``POST /api/auth/login``."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    """A new session: the token (send it as ``Authorization: Bearer``) and its CSRF token."""

    token: str
    csrf_token: str
    session_id: uuid.UUID
    expires_at: datetime


class ProblemOut(BaseModel):
    """An error as RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
