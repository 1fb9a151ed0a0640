"""Synthetic ``patient_medications_inpatient``: BCMA administrations during admissions.

Every admission has a few medication orders; their doses fall between admission and
discharge (or ``as_of`` while the patient is still in). Scheduled doses carry a scheduled
time and are flagged as a variance when given more than an hour off it, or held, refused
or missed; PRN doses have no scheduled time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from medz1.clinical import columns as col
from medz1.clinical import reference_clinical as rc
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import BoolArray, IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds
from medz1.clinical.synth_encounters import Admissions
from medz1.clinical.synth_outpatient import drug_columns

PER_PATIENT_MAX = 100
ORDERS_MIN, ORDERS_MAX = 2, 7
DOSES_PER_ORDER_DAY = 1.6
VARIANCE_TYPES = ("LATE", "EARLY", "HELD", "REFUSED", "MISSED")
#: Variance type of each BCMA action (index into VARIANCE_TYPES), -1 for none.
ACTION_VARIANCE = {"HELD": 2, "REFUSED": 3, "MISSING DOSE": 4}
INPATIENT_DRUG_ID_OFFSET = 500
VARIANCE_MINUTES = 60


def inpatient(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds, stays: Admissions
) -> dict[str, pa.Array]:
    """The ``patient_medications_inpatient`` columns of the admissions' doses.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.
        stays: the admissions whose doses are drawn.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    stop = np.where(stays.active, cohort.as_of_us - col.US_PER_HOUR, stays.discharge_us)
    orders = rng.integers(ORDERS_MIN, ORDERS_MAX + 1, len(stays.patient))
    days = (stop - stays.admit_us) / col.US_PER_DAY
    wanted = np.maximum(1, np.rint(days * orders * DOSES_PER_ORDER_DAY)).astype(np.int64)
    counts = col.capped_in_group(wanted, stays.patient, cohort.n, PER_PATIENT_MAX)
    stay = col.group_of(counts)
    n = len(stay)
    order = col.rank_in_group(counts) % orders[stay]
    order_drug = col.distinct_picks(rng, orders, [d.weight for d in rc.INPATIENT_DRUGS])
    drug = order_drug[col.group_starts(orders)[stay] + order]
    scheduled = col.sorted_times(rng, counts, stays.admit_us, stop)
    keys = cohort.keys_of(stays.patient[stay])
    inpatient_id = stays.inpatient_id[stay]
    nurse = rng.integers(0, len(lookups.staff_name), n)
    provider = rng.integers(0, len(lookups.provider_name), len(stays.patient))[stay]
    station = stays.station[stay]
    return {
        "patient_icn": keys,
        "patient_key": keys,
        "bcma_log_id": col.ints(ids.take("bcma_log_id", n), pa.int64()),
        "inpatient_sid": col.ints(inpatient_id, pa.int64()),
        "order_number": col.join(
            col.numbered("", inpatient_id), col.numbered("", order + 1), sep="-"
        ),
        **drug_columns(rc.INPATIENT_DRUGS, drug, station, id_offset=INPATIENT_DRUG_ID_OFFSET),
        **_administration(rng, drug, scheduled, stays.admit_us[stay], stop[stay]),
        "administered_by": col.pick(lookups.staff_name, nurse),
        "ordering_provider": col.pick(lookups.provider_name, provider),
        "ward_name": col.pick(col.strings([w.name for w in ref.WARDS]), stays.ward[stay]),
        "facility_name": col.pick(lookups.station_name, station),
        "sta3n": col.pick(lookups.sta3n, station),
        "source_system": col.pick(lookups.station_source, station),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }


def _administration(
    rng: np.random.Generator, drug: IntArray, scheduled: IntArray, admit: IntArray, stop: IntArray
) -> dict[str, pa.Array]:
    """Action, times, doses, route, schedule and variance of every dose."""
    n = len(drug)
    drugs = rc.INPATIENT_DRUGS

    def attr(name: str) -> pa.Array:
        return col.pick(col.strings([getattr(d, name) for d in drugs]), drug)

    infusion = np.array([d.iv_type is not None for d in drugs])[drug]
    prn = np.array([d.schedule_type == "PRN" for d in drugs])[drug]
    action = np.where(
        infusion,
        col.choice(rng, rc.BCMA_IV_WEIGHTS, n),
        col.choice(rng, rc.BCMA_WEIGHTS, n),
    )
    offset_minutes = np.select(
        [rng.random(n) < 0.06, rng.random(n) < 0.02],
        [rng.uniform(61, 180, n), -rng.uniform(61, 90, n)],
        np.clip(rng.normal(0, 12, n), -55, 55),
    )
    acted = np.clip(
        scheduled + (offset_minutes * col.US_PER_MINUTE).astype(np.int64),
        admit + col.US_PER_MINUTE,
        stop,
    )
    given = np.isin(action, [rc.BCMA_ACTIONS.index(a) for a in ("GIVEN", "INFUSING", "COMPLETED")])
    ordered = np.minimum(admit + rng.integers(0, 3 * col.US_PER_HOUR, n), acted)
    return {
        "action_type": col.pick(col.strings(rc.BCMA_ACTIONS), action),
        "action_status": col.pick(col.strings(rc.BCMA_ACTION_STATUSES), action),
        "action_datetime": col.timestamps(acted),
        "scheduled_datetime": col.timestamps(scheduled, null=prn),
        "ordered_datetime": col.timestamps(ordered),
        "dosage_ordered": attr("dose"),
        "dosage_given": col.null_where(attr("dose"), ~given),
        "route": attr("route"),
        "unit_of_administration": attr("admin_unit"),
        "schedule_type": attr("schedule_type"),
        "schedule": attr("schedule"),
        **_variance(rng, action, acted - scheduled, prn),
        "is_iv_medication": col.bools(np.array([d.route == "IV" for d in drugs])[drug]),
        "iv_type": attr("iv_type"),
        "infusion_rate": attr("infusion_rate"),
        "is_controlled_substance": col.bools(np.array([d.dea is not None for d in drugs])[drug]),
    }


def _variance(
    rng: np.random.Generator, action: IntArray, late_us: IntArray, prn: BoolArray
) -> dict[str, pa.Array]:
    """Variance flag, type and reason: held, refused, missed, or more than an hour off."""
    by_action = np.full(len(rc.BCMA_ACTIONS), -1, dtype=np.int64)
    for name, variance in ACTION_VARIANCE.items():
        by_action[rc.BCMA_ACTIONS.index(name)] = variance
    limit = VARIANCE_MINUTES * col.US_PER_MINUTE
    timing = np.select([~prn & (late_us > limit), ~prn & (late_us < -limit)], [0, 1], -1)
    kind = np.where(by_action[action] >= 0, by_action[action], timing)
    reasons = [rc.VARIANCE_REASONS[t] for t in VARIANCE_TYPES]
    sizes = np.array([len(r) for r in reasons], dtype=np.int64)
    safe_kind = np.maximum(kind, 0)
    reason = col.group_starts(sizes)[safe_kind] + (rng.random(len(kind)) * sizes[safe_kind]).astype(
        np.int64
    )
    has = kind >= 0
    return {
        "administration_variance": col.bools(has),
        "variance_type": col.pick(col.strings(VARIANCE_TYPES), safe_kind, valid=has),
        "variance_reason": col.pick(
            col.strings([r for rs in reasons for r in rs]), reason, valid=has
        ),
    }
