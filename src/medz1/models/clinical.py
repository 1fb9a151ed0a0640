"""Clinical tables of schema ``public``: demographics, vitals, flags, allergies, encounters, labs.

The columns follow the med-z1 column contract (``med-z1-tables.md``) name for name, so the
med-z1 application's unqualified queries run unchanged. medz1 changes three things:
every timestamp is ``timestamptz`` in UTC, surrogate ids are identity columns, and every
primary and unique key starts with ``patient_key`` so the data can be distributed by patient.
Medications live in :mod:`medz1.models.medications`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medz1.db.types import UTCDateTime
from medz1.models.base import Base

PATIENT_KEY = "Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)"
LAST_UPDATED = "When medz1 last loaded or updated this row (UTC)"
CREATED_AT = "When medz1 created this row (UTC)"
SOURCE_SYSTEM = (
    "Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), "
    "CALCULATED (derived), med-z4 (entered by a sibling application)"
)


class PatientDemographic(Base):
    """One row per patient: identity, demographics, address and primary facility."""

    __tablename__ = "patient_demographics"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key"),
        CheckConstraint("icn = patient_key", name="icn_is_patient_key"),
        CheckConstraint("deceased_flag IN ('Y', 'N')", name="deceased_flag_yn"),
        CheckConstraint(
            "service_connected_percent BETWEEN 0 AND 100", name="service_connected_percent_range"
        ),
        Index("ix_patient_demographics_icn", "icn"),
        Index("ix_patient_demographics_name_last", "name_last"),
        Index("ix_patient_demographics_name_first", "name_first"),
        # Case-insensitive name-prefix search (medz1 patients search), ordered by name.
        Index(
            "ix_patient_demographics_lower_name",
            text("lower(name_last::text)"),
            text("lower(name_first::text)"),
            "patient_key",
        ),
        # Ranked name search (prefix and contains, accents ignored): migration 0006.
        Index(
            "ix_patient_demographics_search_key",
            # Written as PostgreSQL prints it back, so `medz1 check` compares it exactly; the
            # same expression as medz1.dal.patients.search_key.
            literal_column(
                "(\n"
                "CASE\n"
                "    WHEN octet_length((COALESCE(name_last, ''::character varying)::text || ', '::text) || COALESCE(name_first, ''::character varying)::text) = char_length((COALESCE(name_last, ''::character varying)::text || ', '::text) || COALESCE(name_first, ''::character varying)::text) THEN lower((COALESCE(name_last, ''::character varying)::text || ', '::text) || COALESCE(name_first, ''::character varying)::text)\n"
                "    ELSE lower(regexp_replace(NORMALIZE((COALESCE(name_last, ''::character varying)::text || ', '::text) || COALESCE(name_first, ''::character varying)::text, NFD), '[\\u0300-\\u036f]'::text, ''::text, 'g'::text))\n"
                "END)"
            ).label("search_key"),
            postgresql_using="gin",
            postgresql_ops={"search_key": "gin_trgm_ops"},
        ),
        Index("ix_patient_demographics_ssn_last4", "ssn_last4"),
        Index("ix_patient_demographics_dob", "dob"),
        Index("ix_patient_demographics_primary_station", "primary_station"),
        {
            "schema": "public",
            "comment": "One row per patient: identity, demographics, address, primary "
            "facility and eligibility summary; patient_key is the ICN",
        },
    )

    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    icn: Mapped[str] = mapped_column(
        String(50),
        comment="Integration Control Number from the VA Master Person Index; equals patient_key",
    )
    ssn: Mapped[str | None] = mapped_column(
        String(64),
        comment="Social Security number (sensitive PII); 64 characters so a hashed or "
        "tokenised value also fits",
    )
    ssn_last4: Mapped[str | None] = mapped_column(
        String(4), comment="Last four digits of the SSN, used to confirm identity in patient search"
    )
    name_last: Mapped[str | None] = mapped_column(String(100), comment="Legal last (family) name")
    name_first: Mapped[str | None] = mapped_column(String(100), comment="Legal first (given) name")
    name_display: Mapped[str | None] = mapped_column(
        String(200), comment="Name as shown in the patient header (typically LAST, FIRST)"
    )
    dob: Mapped[date | None] = mapped_column(Date, comment="Date of birth")
    age: Mapped[int | None] = mapped_column(
        Integer, comment="Age in years computed at load time; stale afterwards, derive from dob"
    )
    sex: Mapped[str | None] = mapped_column(
        String(1), comment="Administrative (birth) sex code, e.g. M or F"
    )
    gender: Mapped[str | None] = mapped_column(
        String(50), comment="Gender as recorded by the source system, e.g. Male, Female"
    )
    primary_station: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the patient's primary care facility"
    )
    primary_station_name: Mapped[str | None] = mapped_column(
        String(200), comment="Name of the patient's primary care facility"
    )
    is_sensitive: Mapped[bool] = mapped_column(
        Boolean,
        server_default=text("false"),
        comment="Sensitive record (VistA DG SECURITY): every clinician, at the patient's "
        "station too, opens it only by breaking the glass with a reason",
    )
    address_street1: Mapped[str | None] = mapped_column(
        String(100), comment="Residential address, street line 1"
    )
    address_street2: Mapped[str | None] = mapped_column(
        String(100), comment="Residential address, street line 2 (apartment, unit)"
    )
    address_city: Mapped[str | None] = mapped_column(
        String(100), comment="Residential address, city"
    )
    address_state: Mapped[str | None] = mapped_column(
        String(2), comment="Residential address, two-letter US state or territory code"
    )
    address_zip: Mapped[str | None] = mapped_column(
        String(10), comment="Residential address, ZIP code (5 digits or ZIP+4)"
    )
    phone_primary: Mapped[str | None] = mapped_column(
        String(20), comment="Primary contact phone number"
    )
    insurance_company_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the patient's primary health insurance carrier (non-VA)"
    )
    marital_status: Mapped[str | None] = mapped_column(
        String(25), comment="Marital status, e.g. MARRIED, DIVORCED, NEVER MARRIED"
    )
    religion: Mapped[str | None] = mapped_column(
        String(50), comment="Religious preference as recorded by the source"
    )
    service_connected_percent: Mapped[Decimal | None] = mapped_column(
        Numeric(5, 2), comment="VA service-connected disability rating, percent (0-100)"
    )
    deceased_flag: Mapped[str | None] = mapped_column(
        CHAR(1), comment="Y if the patient is deceased, N otherwise"
    )
    death_date: Mapped[date | None] = mapped_column(
        Date, comment="Date of death, when the patient is deceased"
    )
    veteran_status: Mapped[str | None] = mapped_column(
        String(50), comment="Veteran status from the eligibility record, e.g. Veteran"
    )
    source_system: Mapped[str | None] = mapped_column(String(20), comment=SOURCE_SYSTEM)
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientVital(Base):
    """A vital sign measurement (blood pressure, temperature, pulse, weight, BMI, ...)."""

    __tablename__ = "patient_vitals"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "vital_id"),
        UniqueConstraint("patient_key", "vital_sign_id", name=None),
        Index("ix_patient_vitals_patient_taken", "patient_key", text("taken_datetime DESC")),
        Index(
            "ix_patient_vitals_patient_abbr_taken",
            "patient_key",
            "vital_abbr",
            text("taken_datetime DESC"),
        ),
        {
            "schema": "public",
            "comment": "Vital sign measurements per patient: blood pressure, temperature, "
            "pulse, respiration, pulse oximetry, pain, height, weight and calculated BMI",
        },
    )

    vital_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    vital_sign_id: Mapped[int] = mapped_column(
        BigInteger, comment="Source id of the measurement (CDW VitalSignSID); unique per patient"
    )
    vital_type: Mapped[str] = mapped_column(
        String(100), comment="Vital sign type, e.g. BLOOD PRESSURE, TEMPERATURE, PULSE, WEIGHT"
    )
    vital_abbr: Mapped[str] = mapped_column(
        String(10), comment="Short code of the vital type, e.g. BP, T, P, R, POX, PN, WT, HT, BMI"
    )
    taken_datetime: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the measurement was taken (UTC)"
    )
    entered_datetime: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the measurement was entered into the record (UTC)"
    )
    result_value: Mapped[str | None] = mapped_column(
        String(50), comment="Result as recorded, e.g. 128/82 for blood pressure, 98.6 for T"
    )
    numeric_value: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 2), comment="Numeric result in unit_of_measure, for single-valued vitals"
    )
    systolic: Mapped[int | None] = mapped_column(
        Integer, comment="Systolic blood pressure, mmHg (blood pressure rows only)"
    )
    diastolic: Mapped[int | None] = mapped_column(
        Integer, comment="Diastolic blood pressure, mmHg (blood pressure rows only)"
    )
    metric_value: Mapped[Decimal | None] = mapped_column(
        Numeric(10, 2), comment="Result converted to metric units (kg, cm, degrees Celsius)"
    )
    unit_of_measure: Mapped[str | None] = mapped_column(
        String(20), comment="Unit of the recorded result, e.g. mmHg, F, lb, in, %, /min"
    )
    qualifiers: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Measurement qualifiers as JSON, e.g. position, site, cuff size, method"
    )
    location_id: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the clinic or ward where it was taken (CDW LocationSID)"
    )
    location_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the clinic or ward where the vital was taken"
    )
    location_type: Mapped[str | None] = mapped_column(
        String(50), comment="Kind of location, e.g. outpatient clinic, inpatient ward"
    )
    entered_by: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the staff member who entered the measurement"
    )
    abnormal_flag: Mapped[str | None] = mapped_column(
        String(20), comment="Flag against clinical thresholds, e.g. CRITICAL, HIGH, LOW, NORMAL"
    )
    bmi: Mapped[Decimal | None] = mapped_column(
        Numeric(5, 2), comment="Body mass index (kg/m2) calculated from height and weight"
    )
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientFlag(Base):
    """A patient record flag (PRF) assignment: national (I) or local (II) safety flag."""

    __tablename__ = "patient_flags"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "flag_id"),
        UniqueConstraint("patient_key", "assignment_id", name=None),
        Index("ix_patient_flags_patient_active", "patient_key", "is_active"),
        {
            "schema": "public",
            "comment": "Patient record flag (PRF) assignments: Category I national and "
            "Category II local safety flags, with their review schedule",
        },
    )

    flag_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    assignment_id: Mapped[int] = mapped_column(
        BigInteger,
        comment="Source id of the flag assignment; unique per patient, keys patient_flag_history",
    )
    flag_name: Mapped[str] = mapped_column(
        String(100), comment="Flag name, e.g. HIGH RISK FOR SUICIDE, BEHAVIORAL"
    )
    flag_category: Mapped[str] = mapped_column(
        String(2), comment="Flag category: I (national) or II (local)"
    )
    flag_type: Mapped[str | None] = mapped_column(
        String(30), comment="Flag type, e.g. BEHAVIORAL, CLINICAL, RESEARCH, OTHER"
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, comment="True while the flag assignment is active"
    )
    assignment_status: Mapped[str] = mapped_column(
        String(20), comment="Assignment status from the source, e.g. ACTIVE, INACTIVE"
    )
    assignment_date: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the flag was assigned to the patient (UTC)"
    )
    inactivation_date: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the flag was inactivated, if it was (UTC)"
    )
    owner_site: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the site that owns the assignment"
    )
    owner_site_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the site that owns the assignment"
    )
    review_frequency_days: Mapped[int | None] = mapped_column(
        Integer, comment="Required review interval of the assignment, in days"
    )
    next_review_date: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the next review of the assignment is due (UTC)"
    )
    review_status: Mapped[str | None] = mapped_column(
        String(20), comment="Review status computed at load, e.g. CURRENT, DUE SOON, OVERDUE"
    )
    last_action_date: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the most recent action on the assignment was taken (UTC)"
    )
    last_action: Mapped[str | None] = mapped_column(
        String(50), comment="Most recent action, e.g. NEW ASSIGNMENT, CONTINUE, INACTIVATE"
    )
    last_action_by: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the staff member who took the most recent action"
    )
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientFlagHistory(Base):
    """One action on a patient record flag assignment, with its (sensitive) narrative."""

    __tablename__ = "patient_flag_history"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "history_id"),
        UniqueConstraint("patient_key", "assignment_id", "history_date", "action_code", name=None),
        Index("ix_patient_flag_history_patient_date", "patient_key", text("history_date DESC")),
        {
            "schema": "public",
            "comment": "History of actions on patient record flag assignments (new, continue, "
            "inactivate, reactivate, entered in error); narrative text is sensitive",
        },
    )

    history_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    assignment_id: Mapped[int] = mapped_column(
        BigInteger, comment="Flag assignment acted on (patient_flags.assignment_id)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    history_date: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the action was taken (UTC)"
    )
    action_code: Mapped[int] = mapped_column(
        SmallInteger,
        comment="VistA PRF action code: 1 NEW ASSIGNMENT, 2 CONTINUE, 3 INACTIVATE, "
        "4 REACTIVATE, 5 ENTERED IN ERROR",
    )
    action_name: Mapped[str] = mapped_column(
        String(50), comment="Name of the action, matching action_code"
    )
    entered_by_duz: Mapped[int] = mapped_column(
        Integer, comment="VistA DUZ (user number) of the staff member who entered the action"
    )
    entered_by_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the staff member who entered the action"
    )
    approved_by_duz: Mapped[int] = mapped_column(
        Integer, comment="VistA DUZ (user number) of the staff member who approved the action"
    )
    approved_by_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the staff member who approved the action"
    )
    tiu_document_ien: Mapped[int | None] = mapped_column(
        Integer, comment="VistA IEN of the TIU progress note documenting the action, if any"
    )
    history_comments: Mapped[str | None] = mapped_column(
        Text, comment="Narrative of the action; SENSITIVE clinical text"
    )
    event_site: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the site where the action was taken"
    )
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=CREATED_AT
    )


class PatientAllergy(Base):
    """An allergy or adverse reaction (drug, food, environmental) recorded for a patient."""

    __tablename__ = "patient_allergies"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "allergy_id"),
        UniqueConstraint("patient_key", "allergy_sid", name=None),
        Index("ix_patient_allergies_patient_active", "patient_key", "is_active"),
        Index(
            "ix_patient_allergies_patient_drug_severity",
            "patient_key",
            "is_drug_allergy",
            text("severity_rank DESC"),
            postgresql_where=text("(is_active = true)"),
        ),
        {
            "schema": "public",
            "comment": "Allergies and adverse reactions per patient (drug, food, "
            "environmental) with severity, verification and the reactions observed",
        },
    )

    allergy_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    allergy_sid: Mapped[int] = mapped_column(
        BigInteger,
        comment="Source id of the allergy (CDW PatientAllergySID); unique per patient, "
        "keys patient_allergy_reactions",
    )
    allergen_local: Mapped[str] = mapped_column(
        String(255), comment="Allergen as entered at the site (local drug or free-text name)"
    )
    allergen_standardized: Mapped[str] = mapped_column(
        String(100), comment="Standardised allergen name used for display, e.g. PENICILLIN"
    )
    allergen_type: Mapped[str] = mapped_column(
        String(50), comment="Allergen type, e.g. DRUG, FOOD, ENVIRONMENTAL"
    )
    severity: Mapped[str | None] = mapped_column(
        String(50), comment="Severity of the reaction, e.g. MILD, MODERATE, SEVERE"
    )
    severity_rank: Mapped[int | None] = mapped_column(
        Integer, comment="Severity as a sortable rank: 3 SEVERE, 2 MODERATE, 1 MILD"
    )
    reactions: Mapped[str | None] = mapped_column(
        Text,
        comment="Reaction names joined into one text, e.g. HIVES, ITCHING "
        "(one row each in patient_allergy_reactions)",
    )
    reaction_count: Mapped[int | None] = mapped_column(
        Integer, server_default=text("0"), comment="Number of reactions recorded"
    )
    origination_date: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the allergy was entered into the record (UTC)"
    )
    observed_date: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the reaction was observed, for observed allergies (UTC)"
    )
    historical_or_observed: Mapped[str | None] = mapped_column(
        String(20),
        comment="HISTORICAL (reported by the patient) or OBSERVED (seen by clinical staff)",
    )
    originating_site: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the site that entered the allergy"
    )
    originating_site_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the site that entered the allergy"
    )
    originating_staff: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the staff member who entered the allergy"
    )
    comment: Mapped[str | None] = mapped_column(
        Text, comment="Free-text comment on the allergy (may be long)"
    )
    is_active: Mapped[bool | None] = mapped_column(
        Boolean,
        server_default=text("true"),
        comment="True while the allergy is current (not removed or entered in error)",
    )
    verification_status: Mapped[str | None] = mapped_column(
        String(30), comment="Verification status, e.g. VERIFIED, UNVERIFIED"
    )
    is_drug_allergy: Mapped[bool | None] = mapped_column(
        Boolean, server_default=text("false"), comment="True for allergies to a drug"
    )
    source_system: Mapped[str | None] = mapped_column(
        String(20),
        comment=SOURCE_SYSTEM + "; read by med-z1 but created by its loader, not its DDL",
    )
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientAllergyReaction(Base):
    """One reaction (sign or symptom) of a patient allergy."""

    __tablename__ = "patient_allergy_reactions"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "reaction_id"),
        UniqueConstraint("patient_key", "allergy_sid", "reaction_name", name=None),
        # med-z1 reads the reactions of one allergy by allergy_sid alone.
        Index("ix_patient_allergy_reactions_allergy_sid", "allergy_sid"),
        {
            "schema": "public",
            "comment": "Individual reactions (signs and symptoms) of each patient allergy, "
            "one row per reaction",
        },
    )

    reaction_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    allergy_sid: Mapped[int] = mapped_column(
        BigInteger, comment="Allergy the reaction belongs to (patient_allergies.allergy_sid)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    reaction_name: Mapped[str] = mapped_column(
        String(100), comment="Reaction (sign or symptom), e.g. HIVES, ANAPHYLAXIS, NAUSEA"
    )
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=CREATED_AT
    )


class PatientEncounter(Base):
    """An inpatient encounter (admission) with its discharge details and length of stay."""

    __tablename__ = "patient_encounters"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "encounter_id"),
        UniqueConstraint("patient_key", "inpatient_id", name=None),
        # med-z1's encounter detail view reads one row by encounter_id alone.
        Index("ix_patient_encounters_encounter_id", "encounter_id"),
        Index("ix_patient_encounters_patient_admit", "patient_key", text("admit_datetime DESC")),
        Index(
            "ix_patient_encounters_patient_admit_active",
            "patient_key",
            text("admit_datetime DESC"),
            postgresql_where=text("(is_active = true)"),
        ),
        Index(
            "ix_patient_encounters_patient_admit_recent",
            "patient_key",
            text("admit_datetime DESC"),
            postgresql_where=text("(is_recent = true)"),
        ),
        {
            "schema": "public",
            "comment": "Inpatient encounters (admissions): admission and discharge details, "
            "diagnoses, length of stay and facility",
        },
    )

    encounter_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    inpatient_id: Mapped[int] = mapped_column(
        BigInteger, comment="Source id of the admission (CDW InpatientSID); unique per patient"
    )
    admit_datetime: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the patient was admitted (UTC)"
    )
    admit_location_id: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the admitting ward or location (CDW LocationSID)"
    )
    admit_location_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the admitting ward or location"
    )
    admit_location_type: Mapped[str | None] = mapped_column(
        String(50), comment="Type of the admitting location, e.g. ward, ICU"
    )
    admit_diagnosis_code: Mapped[str | None] = mapped_column(
        String(20), comment="Admitting diagnosis code (ICD-10-CM)"
    )
    admitting_provider_id: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the admitting provider (CDW StaffSID)"
    )
    admitting_provider_name: Mapped[str | None] = mapped_column(
        String(200), comment="Name of the admitting provider"
    )
    discharge_datetime: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the patient was discharged (UTC); null while admitted"
    )
    discharge_date_id: Mapped[int | None] = mapped_column(
        Integer, comment="CDW date-dimension key of the discharge date (integer, YYYYMMDD)"
    )
    discharge_location_id: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the ward or location at discharge (CDW LocationSID)"
    )
    discharge_location_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the ward or location at discharge"
    )
    discharge_location_type: Mapped[str | None] = mapped_column(
        String(50), comment="Type of the location at discharge, e.g. ward, ICU"
    )
    discharge_diagnosis_code: Mapped[str | None] = mapped_column(
        String(20), comment="Principal discharge diagnosis code (ICD-10-CM)"
    )
    discharge_diagnosis_text: Mapped[str | None] = mapped_column(
        String(100), comment="Description of the principal discharge diagnosis"
    )
    discharge_disposition: Mapped[str | None] = mapped_column(
        String(50), comment="Where the patient went on discharge, e.g. home, transfer"
    )
    length_of_stay: Mapped[int | None] = mapped_column(Integer, comment="Length of stay in days")
    total_days: Mapped[int | None] = mapped_column(
        Integer, comment="Total days of the admission as computed by the source"
    )
    encounter_status: Mapped[str | None] = mapped_column(
        String(20), comment="Status of the encounter, e.g. Active (admitted) or Discharged"
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, comment="True while the patient is still admitted (not discharged)"
    )
    admission_category: Mapped[str | None] = mapped_column(
        String(30), comment="Category of the admission as classified by the loader"
    )
    is_recent: Mapped[bool] = mapped_column(
        Boolean, comment="True for encounters of the last 30 days, computed at load time"
    )
    is_extended_stay: Mapped[bool] = mapped_column(
        Boolean, comment="True for an extended (long) stay, computed at load time"
    )
    sta3n: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the admitting facility"
    )
    facility_name: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the admitting facility"
    )
    source_system: Mapped[str | None] = mapped_column(String(50), comment=SOURCE_SYSTEM)
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientLab(Base):
    """A laboratory test result with its reference range and abnormal flags."""

    __tablename__ = "patient_labs"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "lab_id"),
        UniqueConstraint("patient_key", "lab_chem_sid", name=None),
        Index("ix_patient_labs_patient_collected", "patient_key", text("collection_datetime DESC")),
        Index(
            "ix_patient_labs_patient_panel_collected",
            "patient_key",
            "panel_name",
            text("collection_datetime DESC"),
        ),
        {
            "schema": "public",
            "comment": "Laboratory test results per patient, one row per result, with panel, "
            "reference range, abnormal and critical flags",
        },
    )

    lab_id: Mapped[int] = mapped_column(
        Integer, Identity(always=False), comment="Surrogate row id generated by medz1 (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    lab_chem_sid: Mapped[int] = mapped_column(
        BigInteger, comment="Source id of the result (CDW LabChemSID); unique per patient"
    )
    lab_test_sid: Mapped[int] = mapped_column(
        Integer, comment="Source id of the lab test definition (CDW LabChemTestSID)"
    )
    lab_test_name: Mapped[str] = mapped_column(
        String(200), comment="Name of the test, e.g. Glucose, Creatinine, Hemoglobin"
    )
    lab_test_code: Mapped[str | None] = mapped_column(
        String(50), comment="Local code of the test at the performing site"
    )
    loinc_code: Mapped[str | None] = mapped_column(
        String(20), comment="LOINC code of the test, when mapped"
    )
    panel_name: Mapped[str | None] = mapped_column(
        String(200), comment="Panel the test was ordered in, e.g. BMP, CBC; null if ordered alone"
    )
    accession_number: Mapped[str] = mapped_column(
        String(50), comment="Specimen accession number; results of one draw share it"
    )
    result_value: Mapped[str | None] = mapped_column(
        String(100), comment="Result as reported (text; may be non-numeric, e.g. POSITIVE, <0.5)"
    )
    result_numeric: Mapped[Decimal | None] = mapped_column(
        Numeric(18, 6), comment="Result as a number, when the reported value is numeric"
    )
    result_unit: Mapped[str | None] = mapped_column(
        String(50), comment="Unit of the result, e.g. mg/dL, mmol/L"
    )
    abnormal_flag: Mapped[str | None] = mapped_column(
        String(10), comment="Abnormal flag reported by the lab, e.g. H, L, H*, L* (critical)"
    )
    is_abnormal: Mapped[bool | None] = mapped_column(
        Boolean, comment="True when the result is outside the reference range"
    )
    is_critical: Mapped[bool | None] = mapped_column(
        Boolean, comment="True when the result is a critical value"
    )
    ref_range_text: Mapped[str | None] = mapped_column(
        String(100), comment="Reference range as reported, e.g. 70-110"
    )
    ref_range_low: Mapped[Decimal | None] = mapped_column(
        Numeric(18, 6), comment="Lower limit of the reference range, in result_unit"
    )
    ref_range_high: Mapped[Decimal | None] = mapped_column(
        Numeric(18, 6), comment="Upper limit of the reference range, in result_unit"
    )
    collection_datetime: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the specimen was collected (UTC)"
    )
    result_datetime: Mapped[datetime] = mapped_column(
        UTCDateTime(), comment="When the result was reported (UTC)"
    )
    location_id: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the collection location (CDW LocationSID)"
    )
    collection_location: Mapped[str | None] = mapped_column(
        String(100), comment="Name of the clinic or ward where the specimen was collected"
    )
    collection_location_type: Mapped[str | None] = mapped_column(
        String(50), comment="Kind of collection location, e.g. outpatient clinic, inpatient ward"
    )
    specimen_type: Mapped[str | None] = mapped_column(
        String(50), comment="Specimen type, e.g. SERUM, BLOOD, URINE"
    )
    sta3n: Mapped[str | None] = mapped_column(
        String(10), comment="VA station number (sta3n) of the facility where it was collected"
    )
    performing_lab_sid: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the laboratory that performed the test"
    )
    ordering_provider_sid: Mapped[int | None] = mapped_column(
        Integer, comment="Source id of the ordering provider (CDW StaffSID)"
    )
    vista_package: Mapped[str | None] = mapped_column(
        String(10), comment="VistA laboratory package or subscript of the result, e.g. CH"
    )
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=LAST_UPDATED
    )


class PatientChartDocument(Base):
    """The patient's chart as one JSON document, rebuilt by the loader in each load.

    Not part of the med-z1 contract: a copy of what :func:`medz1.dal.chart.patient_chart`
    reads from the clinical tables, so that the chart costs one primary-key lookup. The
    loader rebuilds the documents of every patient a load touched in the load's own
    transaction, so no reader ever sees a document older than the rows. Facts relative to
    the present (ages, stay lengths, expirations, review status) are not frozen in it:
    the reader computes them from its clock.
    """

    __tablename__ = "patient_chart_documents"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key"),
        {
            "schema": "public",
            "comment": "The patient chart as one JSON document per patient, rebuilt by the "
            "loader in the transaction of every load (medz1 only; not read by med-z1)",
        },
    )

    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    format: Mapped[int] = mapped_column(
        SmallInteger,
        comment="Version of the document's layout; a reader ignores a document of another "
        "version and reads the clinical tables instead",
    )
    document: Mapped[Any] = mapped_column(
        JSON,
        comment="The chart's domains as JSON arrays of record fields, without the facts "
        "computed when read (age, stay length, expiry, review status)",
    )
    built_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the loader built it (UTC)"
    )
