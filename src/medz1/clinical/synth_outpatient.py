"""Synthetic ``patient_medications_outpatient``: prescriptions with fills and status.

Status follows the dates as med-z1's loader computes it: a prescription past its expiration
date is EXPIRED (``rx_status_computed``) even when the pharmacy still says ACTIVE; one
discontinued has a discontinued date and reason; ``is_active`` is true for ACTIVE and
SUSPENDED ones. Refills happen every ``days_supply`` days until the refills run out or the
prescription stops. Controlled substances have DEA schedules, fewer refills, shorter lives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from medz1.clinical import columns as col
from medz1.clinical import reference_clinical as rc
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import BoolArray, IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

RX_MIN, RX_MAX, RX_MEAN = 5, 50, 14
ACTIVE, DISCONTINUED, EXPIRED, SUSPENDED = range(4)  # indexes into RX_STATUSES
REFILL_CHOICES = np.array([0, 1, 3, 5, 11], dtype=np.int64)
REFILL_WEIGHTS = (0.1, 0.15, 0.45, 0.15, 0.15)
OUTPATIENT_CLINICS = 8  # the first clinics of reference_data.CLINICS write prescriptions
#: Prescriptions crowd towards the present: about 40% of them fall in the last 1/15th of
#: a patient's history (a year of fifteen), so most patients have current medications.
ISSUE_RECENT_BIAS = 3.0
NDC_LABELER = "99999"  # not an FDA labeler code: the NDCs are invented


def drug_columns(
    drugs: Sequence[rc.Drug] | Sequence[rc.InpatientDrug],
    drug: IntArray,
    station: IntArray,
    *,
    id_offset: int,
) -> dict[str, pa.Array]:
    """The drug product columns shared by the outpatient and inpatient tables.

    Args:
        drugs: the drug products of the reference data.
        drug: each row's index into ``drugs``.
        station: each row's index into the stations of the reference data.
        id_offset: added to the drug's index to make its NDC and source ids (keeps the
            inpatient products apart from the outpatient ones).

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    names = col.strings([f"{d.generic} {d.strength}{d.unit} {d.form}" for d in drugs])

    def attr(name: str) -> pa.Array:
        return col.pick(col.strings([getattr(d, name) for d in drugs]), drug)

    ndc = [f"{NDC_LABELER}-{id_offset + i:04d}-01" for i in range(len(drugs))]
    return {
        "local_drug_id": col.ints(1_000_000 + station * 10_000 + id_offset + drug, pa.int64()),
        "national_drug_id": col.ints(20_000 + id_offset + drug, pa.int64()),
        "drug_name_local": col.pick(names, drug),
        "drug_name_national": col.pick(names, drug),
        "generic_name": attr("generic"),
        "trade_name": attr("trade"),
        "drug_strength": attr("strength"),
        "drug_unit": attr("unit"),
        "dosage_form": attr("form"),
        "drug_class": attr("drug_class"),
        "drug_class_code": attr("class_code"),
        "dea_schedule": attr("dea"),
        "ndc_code": col.pick(col.strings(ndc), drug),
    }


def outpatient(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds
) -> dict[str, pa.Array]:
    """The ``patient_medications_outpatient`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    counts = col.skewed_counts(rng, cohort.n, RX_MIN, RX_MAX, RX_MEAN)
    patient = col.group_of(counts)
    n = len(patient)
    drugs = rc.OUTPATIENT_DRUGS
    drug = col.choice(rng, [d.weight for d in drugs], n)
    issued = col.sorted_times(
        rng, counts, cohort.start_us, cohort.end_us, recent_bias=ISSUE_RECENT_BIAS
    )
    station = np.where(
        rng.random(n) < 0.05, rng.integers(0, len(ref.STATIONS), n), cohort.station[patient]
    )
    keys = cohort.keys_of(patient)
    provider = rng.integers(0, len(lookups.provider_name), n)
    other = np.where(rng.random(n) < 0.2, rng.integers(0, len(lookups.provider_name), n), provider)
    clinic = rng.integers(0, OUTPATIENT_CLINICS, n)
    return {
        "patient_icn": keys,
        "patient_key": keys,
        "rx_outpat_id": col.ints(ids.take("rx_outpat_id", n), pa.int64()),
        "prescription_number": col.numbered("", ids.take("prescription_number", n)),
        **drug_columns(drugs, drug, station, id_offset=0),
        "issue_date": col.timestamps(issued),
        "rx_type": col.pick(col.strings(["OUTPATIENT"]), np.zeros(n, dtype=np.int64)),
        **_course(rng, cohort, patient, drug, issued),
        "provider_name": col.pick(lookups.provider_name, provider),
        "ordering_provider_name": col.pick(lookups.provider_name, other),
        "pharmacy_name": col.pick(
            col.strings([f"{s.name} PHARMACY" for s in ref.STATIONS]), station
        ),
        "clinic_name": col.pick(col.strings([c.name for c in ref.CLINICS]), clinic),
        "facility_name": col.pick(lookups.station_name, station),
        "sta3n": col.pick(lookups.sta3n, station),
        "source_system": col.pick(lookups.station_source, station),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }


def _course(
    rng: np.random.Generator, cohort: Cohort, patient: IntArray, drug: IntArray, issued: IntArray
) -> dict[str, pa.Array]:
    """Supply, refills, expiration and status of each prescription, and its fills."""
    n = len(drug)
    dea = np.array([d.dea or "" for d in rc.OUTPATIENT_DRUGS])[drug]
    controlled, schedule2 = dea != "", dea == "2"
    days_supply = np.where(controlled | (rng.random(n) < 0.3), 30, 90)
    valid_days = np.select([schedule2, controlled], [90, 180], 365)
    refills = np.select(
        [schedule2, controlled],
        [0, rng.integers(0, 6, n)],
        REFILL_CHOICES[col.choice(rng, REFILL_WEIGHTS, n)],
    )
    expires = issued + valid_days * col.US_PER_DAY
    status, computed, stopped = _status(rng, cohort, patient, issued, expires)
    discontinued = computed == DISCONTINUED
    # Fills stop at expiration, discontinuation, or the end of the patient's record.
    stop = np.minimum(expires, cohort.end_us[patient])
    stop = np.where(discontinued, np.minimum(stop, stopped), stop)
    statuses = col.strings(rc.RX_STATUSES)
    return {
        "rx_status": col.pick(statuses, status),
        "rx_status_computed": col.pick(statuses, computed),
        **_fills(rng, drug, issued, stop, days_supply, refills),
        "expiration_date": col.timestamps(expires),
        "discontinued_date": col.timestamps(stopped, null=~discontinued),
        "discontinue_reason": col.pick(
            col.strings(rc.DISCONTINUE_REASONS),
            rng.integers(0, len(rc.DISCONTINUE_REASONS), n),
            valid=discontinued,
        ),
        "is_controlled_substance": col.bools(controlled),
        "is_active": col.bools((computed == ACTIVE) | (computed == SUSPENDED)),
        "days_until_expiration": col.ints(
            (expires - cohort.as_of_us) // col.US_PER_DAY, pa.int32()
        ),
    }


def _fills(
    rng: np.random.Generator,
    drug: IntArray,
    issued: IntArray,
    stop: IntArray,
    days_supply: IntArray,
    refills: IntArray,
) -> dict[str, pa.Array]:
    """Quantities and the latest fill: one fill per ``days_supply`` until refills run out."""
    n = len(drug)
    supply_us = days_supply * col.US_PER_DAY
    fill = np.minimum(refills, np.maximum(stop - issued, 0) // supply_us)
    early = np.where(fill > 0, rng.integers(0, 5 * col.US_PER_DAY, n), 0)  # refills come early
    filled = np.maximum(issued + fill * supply_us - early, issued)
    per_day = np.array([d.per_day for d in rc.OUTPATIENT_DRUGS])[drug]
    quantity = col.decimals(np.rint(per_day * days_supply * 10_000).astype(np.int64), 12, 4)
    mail = rng.random(n) < 0.6
    yes_no = col.strings(["N", "Y"])
    return {
        "quantity_ordered": quantity,
        "days_supply": col.ints(days_supply, pa.int32()),
        "refills_allowed": col.ints(refills, pa.int32()),
        "refills_remaining": col.ints(refills - fill, pa.int32()),
        "unit_dose": col.pick(
            col.strings([f"{d.strength} {d.unit}" for d in rc.OUTPATIENT_DRUGS]), drug
        ),
        "latest_fill_number": col.ints(fill, pa.int32()),
        "latest_fill_date": col.timestamps(filled),
        "latest_fill_status": col.pick(col.strings(["DISPENSED", "MAILED"]), mail.astype(np.int64)),
        "latest_quantity_dispensed": quantity,
        "latest_days_supply": col.ints(days_supply, pa.int32()),
        "cmop_indicator": col.pick(yes_no, (mail & (rng.random(n) < 0.9)).astype(np.int64)),
        "mail_indicator": col.pick(yes_no, mail.astype(np.int64)),
    }


def _status(
    rng: np.random.Generator, cohort: Cohort, patient: IntArray, issued: IntArray, expires: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Pharmacy status, status recomputed from the dates, and the discontinued datetime.

    A few expired prescriptions still say ACTIVE in the pharmacy system (the recomputed
    status says EXPIRED); a prescription outliving its patient was discontinued.
    """
    n = len(issued)
    expired: BoolArray = expires <= cohort.as_of_us
    u = rng.random(n)
    outlived = (cohort.death_us[patient] >= 0) & (expires > cohort.end_us[patient])
    discontinued = np.where(expired, u < 0.25, u < 0.15) | outlived
    suspended = ~expired & ~discontinued & (u > 0.93)
    stale = expired & ~discontinued & (rng.random(n) < 0.05)
    computed = np.select(
        [discontinued, suspended, expired], [DISCONTINUED, SUSPENDED, EXPIRED], ACTIVE
    )
    status = np.where(stale, ACTIVE, computed)
    last = np.minimum(expires, cohort.end_us[patient])
    stopped = issued + ((last - issued) * rng.uniform(0.05, 0.95, n)).astype(np.int64)
    return status.astype(np.int64), computed.astype(np.int64), np.maximum(stopped, issued)
