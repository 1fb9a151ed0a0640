"""Synthetic ``patient_allergies`` and ``patient_allergy_reactions``.

A patient's allergens are all different, and so are the reactions of one allergy. The
``reactions`` text of an allergy joins its reaction rows and ``reaction_count`` counts them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medz1.clinical import columns as col
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

ALLERGIES_MAX, ALLERGIES_MEAN = 15, 2.2
#: Share of patients with no known allergy.
NO_ALLERGY_SHARE = 0.35
REACTIONS_PER_PATIENT_MAX = 30
REACTIONS_PER_ALLERGY = (0, 1, 2, 3)
REACTIONS_PER_ALLERGY_WEIGHTS = (0.04, 0.55, 0.29, 0.12)


def allergies(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds
) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The ``patient_allergies`` and ``patient_allergy_reactions`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        The allergy columns and the reaction columns (one row per reaction).
    """
    none = rng.random(cohort.n) < NO_ALLERGY_SHARE
    some = col.skewed_counts(rng, cohort.n, 1, ALLERGIES_MAX, ALLERGIES_MEAN)
    counts = np.where(none, 0, some)
    patient = col.group_of(counts)
    n = len(patient)
    allergen = col.distinct_picks(rng, counts, [a.weight for a in ref.ALLERGENS])
    sid = ids.take("allergy_sid", n)
    wanted = np.array(REACTIONS_PER_ALLERGY)[col.choice(rng, REACTIONS_PER_ALLERGY_WEIGHTS, n)]
    n_reactions = col.capped_in_group(wanted, patient, cohort.n, REACTIONS_PER_PATIENT_MAX)
    reaction = col.distinct_picks(rng, n_reactions, [w for _, w in ref.REACTIONS])
    names = col.pick(col.strings([r for r, _ in ref.REACTIONS]), reaction)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(n_reactions, out=offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), ", ")
    keys = cohort.keys_of(patient)
    allergy = {
        "patient_key": keys,
        "allergy_sid": col.ints(sid, pa.int64()),
        **_allergen(allergen),
        **_severity(rng, n),
        "reactions": col.null_where(joined, n_reactions == 0),
        "reaction_count": col.ints(n_reactions, pa.int32()),
        **_origin(rng, cohort, lookups, counts, patient),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }
    owner = col.group_of(n_reactions)
    reactions = {
        "allergy_sid": col.ints(sid[owner], pa.int64()),
        "patient_key": keys.take(owner.astype(np.int32)),
        "reaction_name": names,
        "created_at": col.timestamps(np.full(len(owner), cohort.loaded_us, dtype=np.int64)),
    }
    return allergy, reactions


def _allergen(allergen: IntArray) -> dict[str, pa.Array]:
    types = [a.allergen_type for a in ref.ALLERGENS]
    return {
        "allergen_local": col.pick(col.strings([a.local for a in ref.ALLERGENS]), allergen),
        "allergen_standardized": col.pick(
            col.strings([a.standardized for a in ref.ALLERGENS]), allergen
        ),
        "allergen_type": col.pick(col.strings(types), allergen),
        "is_drug_allergy": col.bools(np.array([t == "DRUG" for t in types])[allergen]),
    }


def _severity(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Severity and its rank (1 mild to 3 severe); a few allergies have none recorded."""
    severity = col.choice(rng, ref.SEVERITY_WEIGHTS, n)
    known = rng.random(n) >= 0.05
    return {
        "severity": col.pick(col.strings(ref.SEVERITIES), severity, valid=known),
        "severity_rank": col.ints(severity + 1, pa.int32(), null=~known),
    }


def _origin(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, counts: IntArray, patient: IntArray
) -> dict[str, pa.Array]:
    """When, where and by whom each allergy was entered; observed or historical."""
    n = len(patient)
    entered = col.sorted_times(rng, counts, cohort.start_us, cohort.end_us)
    observed = rng.random(n) < 0.3
    seen = entered - rng.integers(0, 2 * col.US_PER_DAY, n)
    station = cohort.station[patient]
    return {
        "origination_date": col.timestamps(entered),
        "observed_date": col.timestamps(seen, null=~observed),
        "historical_or_observed": col.pick(
            col.strings(["HISTORICAL", "OBSERVED"]), observed.astype(np.int64)
        ),
        "originating_site": col.pick(lookups.sta3n, station),
        "originating_site_name": col.pick(lookups.station_name, station),
        "originating_staff": col.pick(
            lookups.staff_name, rng.integers(0, len(lookups.staff_name), n)
        ),
        "comment": col.pick(
            col.strings(ref.ALLERGY_COMMENTS), rng.integers(0, len(ref.ALLERGY_COMMENTS), n)
        ),
        "is_active": col.bools(rng.random(n) >= 0.04),
        "verification_status": col.pick(
            col.strings(ref.VERIFICATION_STATUSES), (rng.random(n) < 0.15).astype(np.int64)
        ),
        "source_system": col.pick(lookups.station_source, station),
    }
