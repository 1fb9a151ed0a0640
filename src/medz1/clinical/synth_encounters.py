"""Synthetic ``patient_encounters``: inpatient admissions that never overlap.

Most patients were never admitted; a few were admitted many times. A few admissions are
still open (admitted in the last days before ``as_of``, not discharged). Length of stay,
``is_active``, ``is_recent`` and ``is_extended_stay`` are computed from the datetimes as
med-z1's loader does at load time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medz1.clinical import columns as col
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import BoolArray, IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

ADMISSIONS_MAX = 20
#: Share of patients admitted at least once, and the mean count among them.
ADMITTED_SHARE, ADMISSIONS_MEAN = 0.45, 2.5
#: Share of admitted, living patients still in hospital at ``as_of``.
STILL_ADMITTED_SHARE = 0.04
#: Admissions of one patient start at least this far apart.
MIN_GAP_US = 3 * col.US_PER_DAY
RECENT_DAYS = 30
EXTENDED_STAY_DAYS = 14
SYMPTOM_CODES = ("R07.9", "R06.02", "R50.9", "R41.82", "R10.9")


@dataclass(frozen=True)
class Admissions:
    """The admissions of a cohort, one element per admission, grouped by patient."""

    patient: IntArray
    inpatient_id: IntArray
    admit_us: IntArray
    discharge_us: IntArray  # -1 while still admitted
    ward: IntArray  # index into reference_data.WARDS (admitting ward)
    station: IntArray

    @property
    def active(self) -> BoolArray:
        """True for admissions not yet discharged."""
        return self.discharge_us < 0


def admissions(
    rng: np.random.Generator, cohort: Cohort, ids: SourceIds
) -> tuple[Admissions, IntArray]:
    """Draw the admissions of the cohort; also returns each admission's diagnosis index.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        The admissions (times in microseconds since the epoch, UTC), and each one's index
        into the diagnoses.
    """
    admitted = rng.random(cohort.n) < ADMITTED_SHARE
    counts = np.where(
        admitted, col.skewed_counts(rng, cohort.n, 1, ADMISSIONS_MAX, ADMISSIONS_MEAN), 0
    )
    patient = col.group_of(counts)
    # Drawn in a window shortened by one gap per admission, then spread apart by the gaps.
    end = cohort.end_us - RECENT_DAYS * col.US_PER_DAY - counts * MIN_GAP_US
    admit = col.sorted_times(rng, counts, cohort.start_us, end)
    admit += col.rank_in_group(counts) * MIN_GAP_US
    last = col.last_in_group(counts)
    still_in = (
        last & (rng.random(len(patient)) < STILL_ADMITTED_SHARE) & (cohort.death_us[patient] < 0)
    )
    admit = np.where(
        still_in,
        cohort.as_of_us - rng.integers(col.US_PER_HOUR * 8, 12 * col.US_PER_DAY, len(patient)),
        admit,
    )
    diagnosis = col.choice(rng, [d.weight for d in ref.DIAGNOSES], len(patient))
    mean_stay = np.array([d.mean_stay for d in ref.DIAGNOSES])[diagnosis]
    stay_days = np.minimum(rng.lognormal(np.log(mean_stay), 0.6), 60)
    discharge = admit + (stay_days * col.US_PER_DAY).astype(np.int64)
    # Discharged a day before the next admission at the latest, and before the window ends.
    next_admit = np.where(last, cohort.end_us[patient], np.roll(admit, -1))
    discharge = np.minimum(discharge, next_admit - col.US_PER_DAY)
    discharge = np.maximum(discharge, admit + 4 * col.US_PER_HOUR)
    discharge = np.where(still_in, -1, discharge)
    elsewhere = rng.random(len(patient)) < 0.08
    station = np.where(
        elsewhere, rng.integers(0, len(ref.STATIONS), len(patient)), cohort.station[patient]
    )
    found = Admissions(
        patient=patient,
        inpatient_id=ids.take("inpatient_id", len(patient)),
        admit_us=admit,
        discharge_us=discharge,
        ward=np.array([d.ward for d in ref.DIAGNOSES], dtype=np.int64)[diagnosis],
        station=station,
    )
    return found, diagnosis


def encounters(
    rng: np.random.Generator,
    cohort: Cohort,
    lookups: Lookups,
    stays: Admissions,
    diagnosis: IntArray,
) -> dict[str, pa.Array]:
    """The ``patient_encounters`` columns of the admissions.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        stays: the admissions of :func:`admissions`.
        diagnosis: each admission's index into the diagnoses.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    n = len(stays.patient)
    active = stays.active
    until = np.where(active, cohort.as_of_us, stays.discharge_us)
    length = (until - stays.admit_us) // col.US_PER_DAY
    total_days = (until // col.US_PER_DAY) - (stays.admit_us // col.US_PER_DAY)
    provider = rng.integers(0, len(lookups.provider_name), n)
    return {
        "patient_key": cohort.keys_of(stays.patient),
        "inpatient_id": col.ints(stays.inpatient_id, pa.int64()),
        "admit_datetime": col.timestamps(stays.admit_us),
        **_wards(rng, stays),
        **_diagnoses(rng, diagnosis, active),
        "admitting_provider_id": col.ints(lookups.provider_sid[provider], pa.int32()),
        "admitting_provider_name": col.pick(lookups.provider_name, provider),
        "discharge_datetime": col.timestamps(stays.discharge_us, null=active),
        "discharge_date_id": col.ints(
            col.date_key(np.maximum(stays.discharge_us, 0)), pa.int32(), null=active
        ),
        "discharge_disposition": col.pick(
            col.strings(ref.DISPOSITIONS),
            col.choice(rng, ref.DISPOSITION_WEIGHTS, n),
            valid=~active,
        ),
        "length_of_stay": col.ints(length, pa.int32()),
        "total_days": col.ints(total_days, pa.int32()),
        "encounter_status": col.pick(
            col.strings(["Discharged", "Active"]), active.astype(np.int64)
        ),
        "is_active": col.bools(active),
        "admission_category": col.pick(col.strings([d.category for d in ref.DIAGNOSES]), diagnosis),
        "is_recent": col.bools(until >= cohort.as_of_us - RECENT_DAYS * col.US_PER_DAY),
        "is_extended_stay": col.bools(length > EXTENDED_STAY_DAYS),
        "sta3n": col.pick(lookups.sta3n, stays.station),
        "facility_name": col.pick(lookups.station_name, stays.station),
        "source_system": col.pick(lookups.station_source, stays.station),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }


def _wards(rng: np.random.Generator, stays: Admissions) -> dict[str, pa.Array]:
    """Admitting and discharging ward: patients leave intensive care for a ward."""
    n = len(stays.patient)
    ward_ids = np.array([w.location_id for w in ref.WARDS], dtype=np.int64)
    names = col.strings([w.name for w in ref.WARDS])
    types = col.strings([w.ward_type for w in ref.WARDS])
    icu = np.array([w.ward_type == "ICU" for w in ref.WARDS])[stays.ward]
    out = np.where(icu & (rng.random(n) < 0.7), 0, stays.ward)
    active = stays.active
    return {
        "admit_location_id": col.ints(ward_ids[stays.ward], pa.int32()),
        "admit_location_name": col.pick(names, stays.ward),
        "admit_location_type": col.pick(types, stays.ward),
        "discharge_location_id": col.ints(ward_ids[out], pa.int32(), null=active),
        "discharge_location_name": col.pick(names, out, valid=~active),
        "discharge_location_type": col.pick(types, out, valid=~active),
    }


def _diagnoses(
    rng: np.random.Generator, diagnosis: IntArray, active: BoolArray
) -> dict[str, pa.Array]:
    """Admitting code (sometimes a symptom code) and the discharge diagnosis once known."""
    n = len(diagnosis)
    codes = col.strings([d.code for d in ref.DIAGNOSES])
    symptom = col.pick(col.strings(SYMPTOM_CODES), rng.integers(0, len(SYMPTOM_CODES), n))
    admit_code = col.pick(codes, diagnosis)
    as_symptom = rng.random(n) < 0.15
    return {
        "admit_diagnosis_code": pc.if_else(pa.array(as_symptom), symptom, admit_code),
        "discharge_diagnosis_code": col.pick(codes, diagnosis, valid=~active),
        "discharge_diagnosis_text": col.pick(
            col.strings([d.text for d in ref.DIAGNOSES]), diagnosis, valid=~active
        ),
    }
