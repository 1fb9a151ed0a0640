"""What ``medz1 up --demo`` prepares for the AI features: the demo interaction table and
the embeddings of the demo charts.

The interaction table is synthetic and deterministic: pairs of the demo medications
(:mod:`medz1.clinical.reference_clinical`) chosen by drug class with textbook reasons
(opioids with benzodiazepines or gabapentinoids, anticoagulants with antiplatelets and
NSAIDs, serotonergic drugs with tramadol, ...). It is demonstration data, not clinical
reference data.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import pyarrow as pa
from sqlalchemy import text

from medz1.ai.embedder import Embedder, HashingEmbedder
from medz1.ai.embeddings import EmbedReport, embed_patients
from medz1.ai.interactions import load_reference, normalise, prepared_table
from medz1.clinical.reference_clinical import INPATIENT_DRUGS, OUTPATIENT_DRUGS
from medz1.db.target import Target
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

SOURCE = "medz1 demo (synthetic)"

#: Drug groups by class code or name; a rule pairs every member of one group with every
#: member of another.
_GROUPS: dict[str, tuple[str, ...]] = {
    "opioid": ("CN101",),
    "benzodiazepine": ("CN302", "CLONAZEPAM"),
    "gabapentinoid": ("GABAPENTIN", "PREGABALIN"),
    "hypnotic": ("CN309",),
    "anticoagulant": ("BL110",),
    "antiplatelet": ("BL117", "ASPIRIN"),
    "nsaid": ("MS102",),
    "ssri": ("SERTRALINE HCL", "CITALOPRAM HYDROBROMIDE", "FLUOXETINE HCL"),
    "serotonergic_opioid": ("TRAMADOL HCL",),
    "ace_arb": ("CV800", "CV805"),
    "potassium": ("POTASSIUM CHLORIDE",),
    "ppi_cyp2c19": ("OMEPRAZOLE",),
    "clopidogrel": ("CLOPIDOGREL BISULFATE",),
    "simvastatin": ("SIMVASTATIN",),
    "amlodipine": ("AMLODIPINE BESYLATE",),
    "alpha_blocker": ("CV150",),
    "pde5": ("SILDENAFIL CITRATE",),
}
_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("opioid", "benzodiazepine", "major", "Additive CNS and respiratory depression; avoid "
     "the combination or use the lowest doses and monitor breathing and sedation."),
    ("opioid", "gabapentinoid", "major", "Additive respiratory depression; start low and "
     "monitor, especially in the elderly and with lung disease."),
    ("opioid", "hypnotic", "major", "Additive CNS depression and complex sleep behaviours."),
    ("anticoagulant", "antiplatelet", "major", "Higher bleeding risk; confirm the "
     "indication for both and watch for bleeding."),
    ("anticoagulant", "nsaid", "major", "Higher bleeding risk, gastrointestinal in "
     "particular; prefer acetaminophen for pain."),
    ("anticoagulant", "anticoagulant", "major", "Duplicate anticoagulation; bleeding risk."),
    ("ssri", "serotonergic_opioid", "major", "Serotonin syndrome and lowered seizure "
     "threshold; avoid or monitor closely."),
    ("ssri", "nsaid", "moderate", "SSRIs impair platelet function; higher bleeding risk."),
    ("ssri", "anticoagulant", "moderate", "SSRIs impair platelet function; higher bleeding "
     "risk with anticoagulation."),
    ("ace_arb", "potassium", "moderate", "Hyperkalaemia; check potassium and renal function."),
    ("ace_arb", "nsaid", "moderate", "Reduced antihypertensive effect and acute kidney "
     "injury risk; monitor blood pressure and creatinine."),
    ("ppi_cyp2c19", "clopidogrel", "moderate", "Omeprazole inhibits CYP2C19 and lowers "
     "clopidogrel's antiplatelet effect; prefer pantoprazole."),
    ("simvastatin", "amlodipine", "moderate", "Higher simvastatin exposure and myopathy "
     "risk; limit simvastatin to 20 mg a day."),
    ("alpha_blocker", "pde5", "moderate", "Additive hypotension; start the PDE5 inhibitor "
     "at a low dose."),
    ("benzodiazepine", "gabapentinoid", "moderate", "Additive CNS depression."),
)  # fmt: skip


def _members(group: str) -> set[str]:
    keys = _GROUPS[group]
    drugs = [(d.generic, d.class_code) for d in OUTPATIENT_DRUGS]
    drugs += [(d.generic, d.class_code) for d in INPATIENT_DRUGS]
    return {normalise(g) for g, code in drugs if g in keys or code in keys}


def demo_interactions() -> pa.Table:
    """The demo interaction pairs (sorted, unique), the same on every call."""
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for left, right, severity, description in _RULES:
        for a in sorted(_members(left)):
            for b in sorted(_members(right)):
                if a != b:
                    pairs.setdefault((min(a, b), max(a, b)), (severity, description))
    for a, b in combinations(sorted(_members("opioid")), 2):
        pairs.setdefault((a, b), ("moderate", "Duplicate opioid therapy; additive sedation."))
    keys = sorted(pairs)
    return pa.table(
        {
            "drug_a": [a for a, _ in keys],
            "drug_b": [b for _, b in keys],
            "severity": [pairs[k][0] for k in keys],
            "description": [pairs[k][1] for k in keys],
            "source": [SOURCE] * len(keys),
        }
    )


@dataclass(frozen=True)
class AiDemoReport:
    """What :func:`prepare` did: interaction pairs loaded (0: already there) and embeddings."""

    interaction_pairs: int
    embeddings: EmbedReport


def prepare(
    target: Target, role_plan: RolePlan, *, embedder: Embedder | None = None
) -> AiDemoReport:
    """Load the demo interaction table if the reference table is empty, then embed every
    chart not embedded yet, both as ``medz1_loader``: the embedding job reads every
    station's charts (BYPASSRLS), whatever ``MEDZ1_STATION_SCOPING`` says.

    Safe to run again: an unchanged chart is not embedded twice, and existing reference
    data is kept.

    Args:
        target: the medz1 database.
        role_plan: the declared roles and their passwords.
        embedder: the embedder; None for the one the settings name (the offline default).

    Returns:
        The interaction pairs loaded (0 when already there) and the embedding report.
    """
    loader = engine_for_role(target, "loader", role_plan.passwords)
    try:
        with loader.connect() as conn:
            present = conn.execute(text("SELECT EXISTS (SELECT 1 FROM ai.drug_interactions)"))
            pairs = 0
            if not present.scalar_one():
                pairs = load_reference(loader, prepared_table(demo_interactions(), "demo")).rows
        report = embed_patients(loader, embedder or HashingEmbedder())
    finally:
        loader.dispose()
    return AiDemoReport(pairs, report)
