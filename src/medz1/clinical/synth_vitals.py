"""Synthetic ``patient_vitals``: visits with a full set of vitals and a calculated BMI.

Each visit records blood pressure, pulse, temperature, respiration, pulse oximetry, pain
and weight; some visits also height. Every visit ends with a calculated BMI row made from
that visit's weight and the patient's height. Values scatter around per-patient baselines,
so a hypertensive patient stays hypertensive, and flags follow the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medz1.clinical import columns as col
from medz1.clinical import reference_clinical as rc
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import FloatArray, IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

VISITS_MIN, VISITS_MAX, VISITS_MEAN = 7, 55, 15
#: Height is measured on the first visit and every ``HEIGHT_EVERY``-th after it.
HEIGHT_EVERY = 12
#: Rows of a visit without height: seven measurements and the BMI.
ROWS_PER_VISIT = 8
FLAG_NAMES = ("NORMAL", "HIGH", "LOW", "CRITICAL")
NORMAL, HIGH, LOW, CRITICAL = range(4)
LB_PER_KG = 2.2046226218
#: Vitals are taken in clinics, not at the lab draw station.
VITALS_CLINIC_WEIGHTS = tuple(
    0.0 if c.name == "LAB DRAW STATION" else c.weight for c in ref.CLINICS
)


@dataclass(frozen=True)
class Visits:
    """The vital-sign visits of a cohort, one element per visit."""

    patient: IntArray
    taken_us: IntArray
    sbp: IntArray
    dbp: IntArray
    pulse: IntArray
    temp_tenths_f: IntArray
    resp: IntArray
    pox: IntArray
    pain: IntArray
    weight_tenths_lb: IntArray


def vitals(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds
) -> dict[str, pa.Array]:
    """The ``patient_vitals`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    counts = col.skewed_counts(rng, cohort.n, VISITS_MIN, VISITS_MAX, VISITS_MEAN)
    height = _heights(rng, cohort)
    visits = _visits(rng, cohort, counts, height)
    with_height = col.rank_in_group(counts) % HEIGHT_EVERY == 0
    rows_per_visit = ROWS_PER_VISIT + with_height.astype(np.int64)
    visit = col.group_of(rows_per_visit)
    position = col.rank_in_group(rows_per_visit)
    # Visits without a height skip type HEIGHT: their eighth row is the BMI.
    vital_type = position + ((position >= rc.HEIGHT) & ~with_height[visit])
    n_visits, n_rows = len(visits.patient), len(visit)
    taken = visits.taken_us[visit]
    clinic = col.choice(rng, VITALS_CLINIC_WEIGHTS, n_visits)[visit]
    clinic_id = np.array([c.location_id for c in ref.CLINICS], dtype=np.int64)
    nurse = rng.integers(0, len(lookups.staff_name), n_visits)[visit]
    types = rc.VITAL_TYPES
    return {
        "patient_key": cohort.keys_of(visits.patient[visit]),
        "vital_sign_id": col.ints(ids.take("vital_sign_id", n_rows), pa.int64()),
        "vital_type": col.pick(col.strings([t.name for t in types]), vital_type),
        "vital_abbr": col.pick(col.strings([t.abbr for t in types]), vital_type),
        "taken_datetime": col.timestamps(taken),
        "entered_datetime": col.timestamps(
            taken + rng.integers(col.US_PER_MINUTE, 90 * col.US_PER_MINUTE, n_rows)
        ),
        **_values(visits, visit, vital_type, height[visits.patient]),
        "unit_of_measure": col.pick(col.strings([t.unit for t in types]), vital_type),
        "qualifiers": _qualifiers(rng, vital_type),
        "location_id": col.ints(clinic_id[clinic], pa.int32()),
        "location_name": col.pick(col.strings([c.name for c in ref.CLINICS]), clinic),
        "location_type": col.pick(col.strings([c.location_type for c in ref.CLINICS]), clinic),
        "entered_by": col.pick(lookups.staff_name, nurse),
        "last_updated": col.timestamps(np.full(n_rows, cohort.loaded_us, dtype=np.int64)),
    }


def _visits(
    rng: np.random.Generator, cohort: Cohort, counts: IntArray, height_tenths_in: IntArray
) -> Visits:
    """Visit times and measurements around per-patient baselines."""
    patient = col.group_of(counts)
    n = len(patient)
    taken = col.sorted_times(rng, counts, cohort.start_us, cohort.end_us)

    def around(mean: float, between: float, within: float) -> FloatArray:
        base = rng.normal(mean, between, cohort.n)
        return np.asarray(base[patient] + rng.normal(0, within, n), dtype=np.float64)

    sbp = np.clip(np.rint(around(130, 13, 9)), 75, 230).astype(np.int64)
    dbp = np.clip(np.rint(around(78, 8, 6)), 40, 140).astype(np.int64)
    dbp = np.minimum(dbp, sbp - 15)
    fever = rng.random(n) < 0.02
    temp = around(98.2, 0.3, 0.35) + fever * rng.uniform(1.5, 4.5, n)
    pox = around(97, 1.0, 1.0) - 4 * (rng.random(cohort.n) < 0.1)[patient]
    chronic_pain = (rng.random(cohort.n) < 0.35)[patient]
    pain = np.where(chronic_pain, around(4.5, 1.5, 1.5), rng.random(n) * 12 - 9)
    return Visits(
        patient=patient,
        taken_us=taken,
        sbp=sbp,
        dbp=dbp,
        pulse=np.clip(np.rint(around(74, 9, 7)), 35, 170).astype(np.int64),
        temp_tenths_f=np.clip(np.rint(temp * 10), 940, 1065).astype(np.int64),
        resp=np.clip(np.rint(around(16, 1.5, 1.5)), 8, 36).astype(np.int64),
        pox=np.clip(np.rint(pox), 78, 100).astype(np.int64),
        pain=np.clip(np.rint(pain), 0, 10).astype(np.int64),
        weight_tenths_lb=_weights(rng, cohort, patient, taken, height_tenths_in),
    )


def _heights(rng: np.random.Generator, cohort: Cohort) -> IntArray:
    """Height per patient in tenths of an inch, measured to the half inch."""
    inches = np.where(
        cohort.female, rng.normal(64.0, 2.6, cohort.n), rng.normal(69.3, 2.8, cohort.n)
    )
    return np.asarray(np.rint(np.clip(inches, 56, 80) * 2) * 5, dtype=np.int64)


def _weights(
    rng: np.random.Generator,
    cohort: Cohort,
    patient: IntArray,
    taken: IntArray,
    height_tenths_in: IntArray,
) -> IntArray:
    """Weight per visit in tenths of a pound: a BMI-based baseline with a slow trend."""
    bmi = np.clip(rng.normal(29.5, 5.5, cohort.n), 17, 55)
    base_lb = bmi * (height_tenths_in * 0.00254) ** 2 * LB_PER_KG
    trend_per_year = rng.normal(0, 0.012, cohort.n)
    years = (taken - cohort.start_us[patient]) / col.US_PER_YEAR
    drift = np.clip(trend_per_year[patient] * years, -0.2, 0.25)
    factor = 1 + drift + rng.normal(0, 0.008, len(patient))
    return np.rint(np.clip(base_lb[patient] * factor, 80, 550) * 10).astype(np.int64)


def _values(
    visits: Visits, visit: IntArray, vital_type: IntArray, height_tenths_in: IntArray
) -> dict[str, pa.Array]:
    """Result text, numeric and metric values, BP parts, BMI and flag of every row.

    ``height_tenths_in`` is the patient's height per visit.
    """
    metric = _metric_hundredths(visits, height_tenths_in)
    bmi = np.rint(metric[rc.WEIGHT] / (metric[rc.HEIGHT] / 10_000.0) ** 2).astype(np.int64)
    # Recorded value per type and visit, with its number of decimals.
    recorded = np.stack([
        np.zeros_like(visits.sbp), visits.pulse, visits.temp_tenths_f, visits.resp, visits.pox,
        visits.pain, visits.weight_tenths_lb, height_tenths_in, bmi,
    ])  # fmt: skip
    scale = np.array([0, 0, 1, 0, 0, 0, 1, 1, 2], dtype=np.int64)[vital_type]
    unscaled = recorded[vital_type, visit]
    is_bp = vital_type == rc.BP
    is_bmi = vital_type == rc.BMI
    bp_text = col.join(col.numbered("", visits.sbp), col.numbered("", visits.dbp), sep="/")
    text = col.fixed_text(unscaled, scale)
    flags = _flags(visits, visit, vital_type, unscaled, scale)
    has_metric = np.isin(vital_type, (rc.TEMP, rc.WEIGHT, rc.HEIGHT))
    return {
        "result_value": pc.if_else(pa.array(is_bp), col.pick(bp_text, visit), text),
        "numeric_value": col.decimals(col.rescale(unscaled, scale, 2), 10, 2, null=is_bp),
        "systolic": col.ints(visits.sbp[visit], pa.int32(), null=~is_bp),
        "diastolic": col.ints(visits.dbp[visit], pa.int32(), null=~is_bp),
        "metric_value": col.decimals(metric[vital_type, visit], 10, 2, null=~has_metric),
        "abnormal_flag": col.pick(col.strings(FLAG_NAMES), flags, valid=flags >= 0),
        "bmi": col.decimals(bmi[visit], 5, 2, null=~is_bmi),
    }


def _metric_hundredths(visits: Visits, height_tenths_in: IntArray) -> IntArray:
    """Metric value per type and visit in hundredths: degrees C, kg, cm (0 elsewhere)."""
    metric = np.zeros((len(rc.VITAL_TYPES), len(visits.patient)), dtype=np.int64)
    celsius = (visits.temp_tenths_f / 10.0 - 32) * 5 / 9
    metric[rc.TEMP] = np.rint(celsius * 100)
    metric[rc.WEIGHT] = np.rint(visits.weight_tenths_lb / 10.0 / LB_PER_KG * 100)
    metric[rc.HEIGHT] = np.rint(height_tenths_in / 10.0 * 2.54 * 100)
    return metric


def _flags(
    visits: Visits, visit: IntArray, vital_type: IntArray, unscaled: IntArray, scale: IntArray
) -> IntArray:
    """Index into FLAG_NAMES per row; -1 (null) for vitals without limits."""
    sbp, dbp = visits.sbp[visit], visits.dbp[visit]
    flags = np.full(len(visit), -1, dtype=np.int64)
    bp = vital_type == rc.BP
    flags[bp] = np.select(
        [
            (sbp >= rc.BP_CRITICAL[0]) | (dbp >= rc.BP_CRITICAL[1]),
            (sbp >= rc.BP_HIGH[0]) | (dbp >= rc.BP_HIGH[1]),
            (sbp < rc.BP_LOW[0]) | (dbp < rc.BP_LOW[1]),
        ],
        [CRITICAL, HIGH, LOW],
        NORMAL,
    )[bp]
    value = unscaled / np.power(10.0, scale)
    for kind, limits in rc.VITAL_LIMITS.items():
        rows = vital_type == kind
        flags[rows] = vital_flag(value[rows], limits)
    return flags


def vital_flag(value: FloatArray, limits: rc.VitalLimits) -> IntArray:
    """Index into FLAG_NAMES of single-valued vitals against their limits.

    Args:
        value: the measurements, in the vital's unit.
        limits: the vital's reference and critical limits.

    Returns:
        One index per measurement (-1 when normal), as int64.
    """
    nan = np.nan
    crit_low, low, high, crit_high = (nan if x is None else x for x in limits)
    return np.select(
        [(value < crit_low) | (value > crit_high), value > high, value < low],
        [CRITICAL, HIGH, LOW],
        NORMAL,
    )


def _qualifiers(rng: np.random.Generator, vital_type: IntArray) -> pa.Array:
    """Qualifier JSON per row, drawn from the choices of its vital type."""
    choices = [q for t in rc.VITAL_TYPES for q in t.qualifiers]
    sizes = np.array([len(t.qualifiers) for t in rc.VITAL_TYPES], dtype=np.int64)
    first = col.group_starts(sizes)
    index = first[vital_type] + (rng.random(len(vital_type)) * sizes[vital_type]).astype(np.int64)
    return col.pick(col.strings(choices), index)
