"""The patient chart: the dashboard of all seven clinical domains in one round trip.

:func:`patient_chart` sends ONE statement, ``SELECT json_build_object('demographics', ...,
'vitals', ..., ...)::text``, whose parts are exactly the JSON expressions the per-domain
read functions run on their own, and decodes the answer with the same record builders.
A chart therefore always equals what the per-domain functions return for the patient,
at the cost of one server round trip instead of nine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.dal import labs, medications, patients
from medz1.dal.labs import LabPanel
from medz1.dal.medications import InpatientAdministration, OutpatientMedication
from medz1.dal.patients import Allergy, Demographics, Encounter, Flag, Vital, check_page
from medz1.dal.records import build, build_all, decode

#: Default list sizes of the chart's paged domains.
CHART_ENCOUNTERS = 5
CHART_LAB_PANELS = 5
CHART_ADMINISTRATIONS = 10


@dataclass(frozen=True)
class Chart:
    """Everything the patient dashboard shows."""

    demographics: Demographics
    vitals: tuple[Vital, ...]
    """Newest measurement of each vital type."""
    flags: tuple[Flag, ...]
    """Active record flags with their history."""
    allergies: tuple[Allergy, ...]
    """Active allergies, most severe first."""
    outpatient_medications: tuple[OutpatientMedication, ...]
    """Active outpatient prescriptions."""
    inpatient_medications: tuple[InpatientAdministration, ...]
    """Most recent administrations of the current admissions (none when not in hospital)."""
    encounters: tuple[Encounter, ...]
    """Most recent encounters."""
    active_admissions: tuple[Encounter, ...]
    """Admissions not yet discharged."""
    lab_panels: tuple[LabPanel, ...]
    """Most recent lab panels with their results."""


_PARTS = {
    "demographics": patients.DEMOGRAPHICS,
    "vitals": patients.LATEST_VITALS,
    "flags": patients.ACTIVE_FLAGS,
    "allergies": patients.ALLERGIES,
    "outpatient_medications": medications.ACTIVE_OUTPATIENT,
    "inpatient_medications": medications.CURRENT_ADMINISTRATIONS,
    "encounters": patients.RECENT_ENCOUNTERS,
    "active_admissions": patients.ACTIVE_ADMISSIONS,
    "lab_panels": labs.RECENT_PANELS,
}

CHART = text(
    "SELECT json_build_object("
    + ", ".join(f"'{name}', {expression}" for name, expression in _PARTS.items())
    + ")::text"
)


def patient_chart(
    session: Session,
    *,
    patient_key: str,
    encounters: int = CHART_ENCOUNTERS,
    lab_panels: int = CHART_LAB_PANELS,
    administrations: int = CHART_ADMINISTRATIONS,
) -> Chart | None:
    """The patient's dashboard, read with a single SQL statement; None for an unknown patient.

    Args:
        session: An open session.
        patient_key: The patient's ICN.
        encounters: How many recent encounters to include.
        lab_panels: How many recent lab panels to include.
        administrations: How many administrations of current admissions to include.

    Raises:
        UsageError: A list size is out of range (1 to 1000).
    """
    for size in (encounters, lab_panels, administrations):
        check_page(size, 0)
    params: dict[str, Any] = {
        "patient_key": patient_key,
        "encounters_limit": encounters,
        "encounters_offset": 0,
        "panels_limit": lab_panels,
        "panels_offset": 0,
        "administrations_limit": administrations,
    }
    data = decode(session.execute(CHART, params).scalar_one())
    if data["demographics"] is None:
        return None
    return Chart(
        demographics=build(Demographics, data["demographics"]),
        vitals=tuple(build_all(Vital, data["vitals"])),
        flags=tuple(build_all(Flag, data["flags"])),
        allergies=tuple(build_all(Allergy, data["allergies"])),
        outpatient_medications=tuple(
            build_all(OutpatientMedication, data["outpatient_medications"])
        ),
        inpatient_medications=tuple(
            build_all(InpatientAdministration, data["inpatient_medications"])
        ),
        encounters=tuple(build_all(Encounter, data["encounters"])),
        active_admissions=tuple(build_all(Encounter, data["active_admissions"])),
        lab_panels=tuple(build_all(LabPanel, data["lab_panels"])),
    )
