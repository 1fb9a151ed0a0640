"""The API's response models name only fields the read layer's records have."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from medz1.api import schemas
from medz1.dal import labs, medications, patients
from medz1.dal.chart import Chart

pytestmark = pytest.mark.api

PAIRS: list[tuple[type[BaseModel], type]] = [
    (schemas.PatientMatchOut, patients.PatientMatch),
    (schemas.DemographicsOut, patients.Demographics),
    (schemas.VitalOut, patients.Vital),
    (schemas.FlagOut, patients.Flag),
    (schemas.FlagActionOut, patients.FlagAction),
    (schemas.AllergyOut, patients.Allergy),
    (schemas.EncounterOut, patients.Encounter),
    (schemas.OutpatientMedicationOut, medications.OutpatientMedication),
    (schemas.InpatientAdministrationOut, medications.InpatientAdministration),
    (schemas.LabPanelOut, labs.LabPanel),
    (schemas.PanelResultOut, labs.PanelResult),
    (schemas.ChartOut, Chart),
]


@pytest.mark.parametrize(("model", "record"), PAIRS, ids=lambda p: p.__name__)
def test_every_model_field_is_a_field_of_its_record(model: type[BaseModel], record: type) -> None:
    fields = {f.name for f in dataclasses.fields(record)}
    assert set(model.model_fields) <= fields


def test_no_model_carries_a_full_ssn() -> None:
    for model, _ in PAIRS:
        assert not [name for name in model.model_fields if name == "ssn"]
