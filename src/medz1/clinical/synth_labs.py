"""Synthetic ``patient_labs``: lab visits of panel draws, each draw under one accession.

Every lab visit orders a chemistry panel (BMP, or CMP) and, by chance, a CBC, a lipid
panel, an A1C, a TSH or single tests. Results scatter around population means, moved by
per-patient conditions (kidney disease raises creatinine, diabetes glucose and A1C, ...);
flags follow the reported (rounded) value against the reference range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from medz1.clinical import columns as col
from medz1.clinical import reference_clinical as rc
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import BoolArray, FloatArray, IntArray
from medz1.clinical.synth_cohort import Cohort, Lookups, SourceIds

#: Lab visits per patient. The largest visit has 31 results, so 16 visits stay within 500.
VISITS_MIN, VISITS_MAX, VISITS_MEAN = 7, 16, 9
FLAG_NAMES = ("L", "H", "LL", "HH")
LOW, HIGH, CRITICAL_LOW, CRITICAL_HIGH = range(4)
LAB_LOCATIONS = ("LAB DRAW STATION", "PRIMARY CARE CLINIC", "EMERGENCY DEPARTMENT")
LAB_LOCATION_WEIGHTS = (0.7, 0.2, 0.1)
PERFORMING_LAB_BASE = 800_000
WILD_SHARE = 0.004


@dataclass(frozen=True)
class TestTable:
    """The lab test definitions as arrays, indexed by test number."""

    tests: tuple[rc.LabTest, ...]

    def floats(self, name: str) -> FloatArray:
        """A numeric attribute per test; None becomes NaN."""
        values = [getattr(t, name) for t in self.tests]
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    def strings(self, name: str) -> pa.Array:
        """A text attribute per test."""
        return col.strings([getattr(t, name) for t in self.tests])


def labs(
    rng: np.random.Generator, cohort: Cohort, lookups: Lookups, ids: SourceIds
) -> dict[str, pa.Array]:
    """The ``patient_labs`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.
        ids: the source-system id counters; the ids drawn here continue from them.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    counts = col.skewed_counts(rng, cohort.n, VISITS_MIN, VISITS_MAX, VISITS_MEAN)
    visit_patient = col.group_of(counts)
    collected = col.sorted_times(rng, counts, cohort.start_us, cohort.end_us)
    draw_visit, draw_panel = _draws(rng, len(visit_patient))
    n_draws = len(draw_visit)
    panel_tests = [[rc.LAB_TESTS[code] for code in p.tests] for p in rc.LAB_PANELS]
    sizes = np.array([len(t) for t in panel_tests], dtype=np.int64)[draw_panel]
    draw = col.group_of(sizes)
    entry = col.group_starts(np.array([len(t) for t in panel_tests]))[draw_panel[draw]]
    test = entry + col.rank_in_group(sizes)  # index into the flattened panel entries
    table = TestTable(tuple(t for tests in panel_tests for t in tests))
    patient = visit_patient[draw_visit[draw]]
    draw_collected = collected[draw_visit]
    resulted = draw_collected + rng.integers(col.US_PER_HOUR // 2, 8 * col.US_PER_HOUR, n_draws)
    accession = _accessions(draw_collected, ids.take("accession", n_draws))
    panel_names = col.strings([p.name for p in rc.LAB_PANELS])
    return {
        "patient_key": cohort.keys_of(patient),
        "lab_chem_sid": col.ints(ids.take("lab_chem_sid", len(draw)), pa.int64()),
        "lab_test_sid": col.ints(np.array([t.sid for t in table.tests])[test], pa.int32()),
        "lab_test_name": col.pick(table.strings("name"), test),
        "lab_test_code": col.pick(table.strings("code"), test),
        "loinc_code": col.pick(table.strings("loinc"), test),
        "panel_name": col.pick(panel_names, draw_panel[draw]),
        "accession_number": col.pick(accession, draw),
        **_results(rng, cohort, table, test, patient),
        "collection_datetime": col.timestamps(draw_collected[draw]),
        "result_datetime": col.timestamps(resulted[draw]),
        **_places(rng, cohort, lookups, draw_visit, visit_patient, draw),
        "specimen_type": col.pick(table.strings("specimen"), test),
        "vista_package": col.pick(col.strings(["CH"]), np.zeros(len(draw), dtype=np.int64)),
        "last_updated": col.timestamps(np.full(len(draw), cohort.loaded_us, dtype=np.int64)),
    }


def _draws(rng: np.random.Generator, n_visits: int) -> tuple[IntArray, IntArray]:
    """The panels drawn at each visit, as (visit, panel) pairs in visit order."""
    chance = np.array([p.probability for p in rc.LAB_PANELS])
    ordered = rng.random((n_visits, len(chance))) < chance
    ordered[:, 0] = ~ordered[:, 1]  # a BMP exactly when there is no CMP
    visit, panel = np.nonzero(ordered)
    return visit.astype(np.int64), panel.astype(np.int64)


def _accessions(collected: IntArray, numbers: IntArray) -> pa.Array:
    """Accession numbers like ``CH 250412 1000123``: area, collection date, number."""
    year, month, day = col.ymd(collected)
    yymmdd = (year % 100) * 10_000 + month * 100 + day
    return col.join("CH", col.numbered("", yymmdd, width=6), col.numbered("", numbers), sep=" ")


def _results(
    rng: np.random.Generator, cohort: Cohort, table: TestTable, test: IntArray, patient: IntArray
) -> dict[str, pa.Array]:
    """Result value, reference range and flags of every row."""
    decimals = np.array([t.decimals for t in table.tests], dtype=np.int64)[test]
    unscaled = _draw_values(rng, cohort, table, test, patient, decimals)
    value = unscaled / np.power(10.0, decimals)
    flag = lab_flags(
        value, *(table.floats(a)[test] for a in ("low", "high", "critical_low", "critical_high"))
    )
    low, high = table.floats("low"), table.floats("high")
    low_scaled = np.nan_to_num(np.rint(low * 1e6)).astype(np.int64)
    high_scaled = np.nan_to_num(np.rint(high * 1e6)).astype(np.int64)
    return {
        "result_value": col.fixed_text(unscaled, decimals),
        "result_numeric": col.decimals(col.rescale(unscaled, decimals, 6), 18, 6),
        "result_unit": col.pick(table.strings("unit"), test),
        "abnormal_flag": col.pick(col.strings(FLAG_NAMES), flag, valid=flag >= 0),
        "is_abnormal": col.bools(flag >= 0),
        "is_critical": col.bools(flag >= CRITICAL_LOW),
        "ref_range_text": col.pick(col.strings([range_text(t) for t in table.tests]), test),
        "ref_range_low": col.decimals(low_scaled[test], 18, 6, null=np.isnan(low)[test]),
        "ref_range_high": col.decimals(high_scaled[test], 18, 6, null=np.isnan(high)[test]),
    }


def _draw_values(
    rng: np.random.Generator,
    cohort: Cohort,
    table: TestTable,
    test: IntArray,
    patient: IntArray,
    decimals: IntArray,
) -> IntArray:
    """Unscaled results (value times 10**decimals): population spread plus patient traits."""
    traits = np.zeros((cohort.n, len(rc.LAB_FACTORS)))
    for factor, (share, shift) in rc.LAB_FACTOR_CONDITIONS.items():
        f = rc.LAB_FACTORS.index(factor)
        traits[:, f] = rng.normal(0, 0.5, cohort.n) + shift * (rng.random(cohort.n) < share)
    factor_of = np.array([rc.LAB_FACTORS.index(t.factor) for t in table.tests])
    z = 0.75 * traits[patient, factor_of[test]] + 0.6 * rng.standard_normal(len(test))
    # A few wild results, so that critical values (LL, HH) occur.
    wild = rng.random(len(test)) < WILD_SHARE
    z += wild * rng.choice([-1.0, 1.0], len(test)) * rng.uniform(3, 6, len(test))
    mean, sd = table.floats("mean")[test], table.floats("sd")[test]
    lognormal = np.array([t.lognormal for t in table.tests])[test]
    sigma = sd / mean
    value = np.where(lognormal, mean * np.exp(sigma * z - sigma**2 / 2), mean + sd * z)
    # Results stay physiological: not below 80% of the critical low (or 20% of the mean).
    critical_low = table.floats("critical_low")[test]
    floor = np.where(np.isnan(critical_low), 0.2 * mean, 0.8 * critical_low)
    step = np.power(10.0, -decimals)
    return np.asarray(np.rint(np.maximum(value, np.maximum(floor, step)) / step), dtype=np.int64)


def lab_flags(
    value: FloatArray,
    low: FloatArray,
    high: FloatArray,
    critical_low: FloatArray,
    critical_high: FloatArray,
) -> IntArray:
    """Index into FLAG_NAMES per result (-1 when normal); NaN limits never flag.

    Args:
        value: the results, in the test's unit.
        low: the lower reference limit per result (NaN: none).
        high: the upper reference limit per result (NaN: none).
        critical_low: the lower critical limit per result (NaN: none).
        critical_high: the upper critical limit per result (NaN: none).

    Returns:
        One index per result, as int64.
    """
    return np.select(
        [value < critical_low, value > critical_high, value < low, value > high],
        [CRITICAL_LOW, CRITICAL_HIGH, LOW, HIGH],
        -1,
    )


def range_text(test: rc.LabTest) -> str:
    """The reference range as reported: ``135-145``, ``<200`` or ``>40``."""

    def fmt(limit: float) -> str:
        return f"{limit:.{test.decimals}f}"

    if test.low is None:
        return f"<{fmt(test.high or 0)}"
    if test.high is None:
        return f">{fmt(test.low)}"
    return f"{fmt(test.low)}-{fmt(test.high)}"


def _places(
    rng: np.random.Generator,
    cohort: Cohort,
    lookups: Lookups,
    draw_visit: IntArray,
    visit_patient: IntArray,
    draw: IntArray,
) -> dict[str, pa.Array]:
    """Where each draw was collected, its station, lab and ordering provider."""
    n_visits = len(visit_patient)
    clinics = {c.name: c for c in ref.CLINICS}
    where = col.choice(rng, LAB_LOCATION_WEIGHTS, n_visits)
    elsewhere: BoolArray = rng.random(n_visits) < 0.05
    station = np.where(
        elsewhere, rng.integers(0, len(ref.STATIONS), n_visits), cohort.station[visit_patient]
    )
    provider = rng.integers(0, len(lookups.provider_sid), n_visits)
    row_visit = draw_visit[draw]
    location_ids = np.array([clinics[name].location_id for name in LAB_LOCATIONS])
    return {
        "location_id": col.ints(location_ids[where][row_visit], pa.int32()),
        "collection_location": col.pick(col.strings(LAB_LOCATIONS), where[row_visit]),
        "collection_location_type": col.pick(
            col.strings([clinics[name].location_type for name in LAB_LOCATIONS]), where[row_visit]
        ),
        "sta3n": col.pick(lookups.sta3n, station[row_visit]),
        "performing_lab_sid": col.ints(PERFORMING_LAB_BASE + station[row_visit], pa.int32()),
        "ordering_provider_sid": col.ints(lookups.provider_sid[provider][row_visit], pa.int32()),
    }
