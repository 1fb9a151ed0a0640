"""The medz1 models: importing this package registers all 24 tables on ``metadata``.

Schemas: ``public`` (clinical tables, read unqualified by med-z1), ``auth``, ``ai``, ``admin``.
"""

from __future__ import annotations

from medz1.models.admin import FeatureFlag, SystemSetting, UserPreference
from medz1.models.ai import (
    ChartSummary,
    DdiCache,
    DrugInteraction,
    DrugInteractionLoad,
    PatientEmbedding,
)
from medz1.models.auth import AuditLog, BreakGlassGrant, User, UserSession
from medz1.models.base import SCHEMAS, Base, metadata
from medz1.models.clinical import (
    PatientAllergy,
    PatientAllergyReaction,
    PatientChartDocument,
    PatientDemographic,
    PatientEncounter,
    PatientFlag,
    PatientFlagHistory,
    PatientLab,
    PatientVital,
)
from medz1.models.medications import PatientMedicationInpatient, PatientMedicationOutpatient

__all__ = [
    "SCHEMAS",
    "AuditLog",
    "Base",
    "BreakGlassGrant",
    "ChartSummary",
    "DdiCache",
    "DrugInteraction",
    "DrugInteractionLoad",
    "FeatureFlag",
    "PatientAllergy",
    "PatientAllergyReaction",
    "PatientChartDocument",
    "PatientDemographic",
    "PatientEmbedding",
    "PatientEncounter",
    "PatientFlag",
    "PatientFlagHistory",
    "PatientLab",
    "PatientMedicationInpatient",
    "PatientMedicationOutpatient",
    "PatientVital",
    "SystemSetting",
    "User",
    "UserPreference",
    "UserSession",
    "metadata",
]
