"""Synthetic ``patient_flags`` and ``patient_flag_history``.

Each flag assignment follows one of a few action sequences (new; new, continue; new,
inactivate, reactivate; ...), one review period apart. The flag row is derived from its
history: active unless its last action inactivated it, last action and date from the last
history row, next review one period after it, review status against ``as_of``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from medz1.clinical import columns as col
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

FLAGS_PER_PATIENT_WEIGHTS = (0.85, 0.11, 0.028, 0.008, 0.003, 0.001)  # 0 to 5 flags
INACTIVATE = 3
DUE_SOON_DAYS = 30
TIU_SHARE = 0.7


def flags(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds
) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The ``patient_flags`` and ``patient_flag_history`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        The flag columns and the flag history columns (one row per history entry).
    """
    counts = col.choice(rng, FLAGS_PER_PATIENT_WEIGHTS, cohort.n)
    patient = col.group_of(counts)
    n = len(patient)
    flag = col.distinct_picks(rng, counts, [f.weight for f in ref.FLAGS])
    sequence = col.choice(rng, [w for _, w in ref.FLAG_HISTORIES], n)
    lengths = np.array([len(h) for h, _ in ref.FLAG_HISTORIES], dtype=np.int64)
    steps = lengths[sequence]
    owner = col.group_of(steps)  # the flag assignment of every history row
    step = col.rank_in_group(steps)
    all_actions = np.array([a for h, _ in ref.FLAG_HISTORIES for a in h], dtype=np.int64)
    action = all_actions[col.group_starts(lengths)[sequence][owner] + step]
    review_us = np.array([f.review_days for f in ref.FLAGS], dtype=np.int64)[flag] * col.US_PER_DAY
    assigned, gap = _schedule(rng, cohort, patient, steps, review_us)
    when = assigned[owner] + step * gap[owner]
    last_row = col.group_starts(steps) + steps - 1
    sid = ids.take("assignment_id", n)
    station = cohort.station[patient]
    entered_by = rng.integers(0, len(lookups.staff_name), len(owner))
    history = {
        "assignment_id": col.ints(sid[owner], pa.int64()),
        "patient_key": cohort.keys_of(patient[owner]),
        **_actions(rng, lookups, when, action, entered_by),
        "event_site": col.pick(lookups.sta3n, station[owner]),
        "created_at": col.timestamps(np.full(len(owner), cohort.loaded_us, dtype=np.int64)),
    }
    keys = cohort.keys_of(patient)
    assignment = {
        "patient_key": keys,
        "assignment_id": col.ints(sid, pa.int64()),
        "flag_name": col.pick(col.strings([f.name for f in ref.FLAGS]), flag),
        "flag_category": col.pick(col.strings([f.category for f in ref.FLAGS]), flag),
        "flag_type": col.pick(col.strings([f.flag_type for f in ref.FLAGS]), flag),
        **_state(cohort, assigned, when[last_row], action[last_row], review_us),
        "owner_site": col.pick(lookups.sta3n, station),
        "owner_site_name": col.pick(lookups.station_name, station),
        "review_frequency_days": col.ints(review_us // col.US_PER_DAY, pa.int32()),
        "last_action_date": col.timestamps(when[last_row]),
        "last_action": col.pick(col.strings(list(ref.FLAG_ACTIONS.values())), action[last_row] - 1),
        "last_action_by": col.pick(lookups.staff_name, entered_by[last_row]),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }
    return assignment, history


def _schedule(
    rng: np.random.Generator,
    cohort: Cohort,
    patient: IntArray,
    steps: IntArray,
    review_us: IntArray,
) -> tuple[IntArray, IntArray]:
    """Assignment datetime and the gap between actions, so all actions fit the window."""
    room = cohort.end_us[patient] - cohort.start_us[patient]
    gap = np.minimum(
        (review_us * rng.uniform(0.85, 1.0, len(steps))).astype(np.int64), room // (steps + 1)
    )
    span = (steps - 1) * gap
    slack = np.minimum(review_us, room - span)
    assigned = cohort.end_us[patient] - span - (slack * rng.random(len(steps))).astype(np.int64)
    return assigned, gap


def _state(
    cohort: Cohort,
    assigned: IntArray,
    last_us: IntArray,
    last_action: IntArray,
    review_us: IntArray,
) -> dict[str, pa.Array]:
    """Active status, dates, next review and review status, from the last action."""
    inactive = last_action == INACTIVATE
    next_review = last_us + review_us
    status = np.select(
        [
            next_review < cohort.as_of_us,
            next_review < cohort.as_of_us + DUE_SOON_DAYS * col.US_PER_DAY,
        ],
        [2, 1],
        0,
    )
    return {
        "is_active": col.bools(~inactive),
        "assignment_status": col.pick(
            col.strings(["ACTIVE", "INACTIVE"]), inactive.astype(np.int64)
        ),
        "assignment_date": col.timestamps(assigned),
        "inactivation_date": col.timestamps(last_us, null=~inactive),
        "next_review_date": col.timestamps(next_review, null=inactive),
        "review_status": col.pick(
            col.strings(["CURRENT", "DUE SOON", "OVERDUE"]), status, valid=~inactive
        ),
    }


def _actions(
    rng: np.random.Generator,
    lookups: Lookups,
    when: IntArray,
    action: IntArray,
    entered_by: IntArray,
) -> dict[str, pa.Array]:
    """Date, action, staff, TIU note and comment of every history row."""
    n = len(action)
    approver = rng.integers(0, len(lookups.provider_name), n)  # a clinician approves
    codes = sorted(ref.FLAG_ACTIONS)
    return {
        "history_date": col.timestamps(when),
        "action_code": col.ints(action, pa.int16()),
        "action_name": col.pick(col.strings([ref.FLAG_ACTIONS[c] for c in codes]), action - 1),
        "entered_by_duz": col.ints(lookups.staff_duz[entered_by], pa.int32()),
        "entered_by_name": col.pick(lookups.staff_name, entered_by),
        "approved_by_duz": col.ints(lookups.provider_duz[approver], pa.int32()),
        "approved_by_name": col.pick(lookups.provider_name, approver),
        "tiu_document_ien": col.ints(
            rng.integers(1_000_000, 99_999_999, n), pa.int32(), null=rng.random(n) >= TIU_SHARE
        ),
        "history_comments": col.pick(
            col.strings([ref.FLAG_ACTION_COMMENTS[c] for c in codes]), action - 1
        ),
    }
