"""The patients of one chunk of synthetic data, and their ``patient_demographics`` rows.

A :class:`Cohort` holds what every clinical table needs about its patients (key, station,
sex, birth, the window in which their events happen); :class:`Lookups` holds the columns
shared by all chunks (stations, staff, providers); :class:`SourceIds` hands out the
surrogate source ids (``vital_sign_id``, ``lab_chem_sid``, ...) so they stay unique across
chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from medz1.clinical import columns as col
from medz1.clinical import reference_data as ref
from medz1.clinical.columns import BoolArray, IntArray

#: The ICN of patient number ``i`` (1-based) is ``ICN`` followed by ``ICN_BASE + i``.
ICN_BASE = 100_000
#: How long before ``as_of`` the load that produced the rows ran (``last_updated``).
LOAD_LAG_US = col.US_PER_HOUR
#: Events end this long before ``as_of`` (or death), leaving room for results and entries.
EVENT_MARGIN_US = col.US_PER_DAY
STAFF_POOL = 400
PROVIDER_POOL = 150

#: First value of every kind of source id; each kind counts up from its base.
ID_BASES = {
    "vital_sign_id": 1_000_000_001,
    "lab_chem_sid": 2_000_000_001,
    "accession": 1_000_001,
    "rx_outpat_id": 3_000_000_001,
    "prescription_number": 2_000_001,
    "bcma_log_id": 4_000_000_001,
    "allergy_sid": 500_000_001,
    "assignment_id": 600_000_001,
    "inpatient_id": 700_000_001,
}


@dataclass
class SourceIds:
    """Hands out consecutive source ids per kind, unique over all chunks of one data set."""

    used: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ID_BASES, 0))

    def take(self, kind: str, count: int) -> IntArray:
        """The next ``count`` ids of ``kind`` (e.g. ``"vital_sign_id"``).

        Args:
            kind: the id column (e.g. ``vital_sign_id``).
            count: how many ids.

        Returns:
            ``count`` consecutive ids, as int64.
        """
        first = ID_BASES[kind] + self.used[kind]
        self.used[kind] += count
        return np.arange(first, first + count, dtype=np.int64)


@dataclass(frozen=True)
class Lookups:
    """Columns of the reference data, as Arrow arrays, shared by every chunk."""

    sta3n: pa.Array
    station_name: pa.Array
    station_source: pa.Array
    station_weights: tuple[float, ...]
    staff_name: pa.Array
    staff_duz: IntArray
    provider_name: pa.Array
    provider_sid: IntArray  # CDW StaffSID of each provider
    provider_duz: IntArray  # VistA DUZ of each provider

    @classmethod
    def build(cls, rng: np.random.Generator) -> Lookups:
        """Station columns, and pools of staff and provider names drawn from ``rng``."""
        return cls(
            sta3n=col.strings([s.sta3n for s in ref.STATIONS]),
            station_name=col.strings([s.name for s in ref.STATIONS]),
            station_source=col.strings([s.source_system for s in ref.STATIONS]),
            station_weights=tuple(s.weight for s in ref.STATIONS),
            staff_name=_people(rng, STAFF_POOL, ref.STAFF_TITLES),
            staff_duz=rng.choice(np.arange(10_000, 99_999), STAFF_POOL, replace=False),
            provider_name=_people(rng, PROVIDER_POOL, ref.PROVIDER_TITLES),
            provider_sid=rng.choice(np.arange(100_000, 999_999), PROVIDER_POOL, replace=False),
            provider_duz=rng.choice(np.arange(100_000, 199_999), PROVIDER_POOL, replace=False),
        )


def _people(rng: np.random.Generator, count: int, titles: tuple[str, ...]) -> pa.Array:
    """``count`` names like ``GARCIA, MARIA RN``."""
    first_names = ref.MALE_FIRST_NAMES + ref.FEMALE_FIRST_NAMES
    last = col.pick(col.strings(ref.LAST_NAMES), rng.integers(0, len(ref.LAST_NAMES), count))
    first = col.pick(col.strings(first_names), rng.integers(0, len(first_names), count))
    title = col.pick(col.strings(titles), rng.integers(0, len(titles), count))
    return col.join(col.join(last, first, sep=", "), title, sep=" ")


@dataclass(frozen=True)
class Cohort:
    """The patients of one chunk: one array element per patient."""

    first: int  # 0-based number of the chunk's first patient in the whole data set
    keys: pa.Array  # patient_key (= ICN)
    station: IntArray  # index into reference_data.STATIONS
    female: BoolArray
    dob_us: IntArray
    start_us: IntArray  # events happen in (start_us, end_us)
    end_us: IntArray
    death_us: IntArray  # -1 when alive
    as_of_us: int

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.station)

    @property
    def loaded_us(self) -> int:
        """The ``last_updated`` / ``created_at`` value of every row."""
        return self.as_of_us - LOAD_LAG_US

    def keys_of(self, patient: IntArray) -> pa.Array:
        """``patient_key`` of every row, given the row's patient (index into the cohort)."""
        return col.pick(self.keys, patient)


def make_cohort(
    rng: np.random.Generator, *, first: int, n: int, as_of_us: int, lookups: Lookups
) -> Cohort:
    """Draw ``n`` patients numbered from ``first``: station, sex, birth, death, history.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        first: the 0-based number of the chunk's first patient in the whole data set.
        n: how many patients.
        as_of_us: the load moment in microseconds since the epoch (UTC); every event lies before it.
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.

    Returns:
        The cohort, one array element per patient.
    """
    numbers = np.arange(first + 1, first + n + 1, dtype=np.int64)
    age_years = np.where(
        rng.random(n) < 0.3, rng.uniform(25, 50, n), 50 + 45 * rng.beta(2.0, 2.2, n)
    )
    dob = as_of_us - (
        (np.minimum(age_years, 95) + rng.uniform(0.01, 0.99, n)) * col.US_PER_YEAR
    ).astype(np.int64)
    history_years = rng.uniform(3, 20, n)
    start = np.maximum(
        as_of_us - (history_years * col.US_PER_YEAR).astype(np.int64), dob + 18 * col.US_PER_YEAR
    )
    deceased = rng.random(n) < 0.03
    death = np.where(
        deceased, start + ((as_of_us - start) * rng.uniform(0.6, 0.98, n)).astype(np.int64), -1
    )
    death = np.where(deceased, death - death % col.US_PER_DAY, -1)  # a date, at midnight UTC
    end = np.where(deceased, death, as_of_us) - EVENT_MARGIN_US
    return Cohort(
        first=first,
        keys=col.numbered("ICN", ICN_BASE + numbers),
        station=col.choice(rng, lookups.station_weights, n),
        female=rng.random(n) < 0.1,
        dob_us=dob,
        start_us=start,
        end_us=end,
        death_us=death,
        as_of_us=as_of_us,
    )


def demographics(rng: np.random.Generator, cohort: Cohort, lookups: Lookups) -> dict[str, pa.Array]:
    """The ``patient_demographics`` columns of the cohort.

    Args:
        rng: the random stream of this table (one per table, so tables do not shift each other).
        cohort: the patients of this chunk (times in microseconds since the epoch, UTC).
        lookups: the reference data (stations, drugs, lab tests ...) as Arrow arrays.

    Returns:
        Columns by name, one Arrow array each, for :func:`medz1.clinical.synthetic.assemble`.
    """
    n = cohort.n
    deceased = cohort.death_us >= 0
    age = col.years_between(cohort.dob_us, np.full(n, cohort.as_of_us, dtype=np.int64))
    sex = cohort.female.astype(np.int64)
    return {
        "patient_key": cohort.keys,
        "icn": cohort.keys,
        **_identity(rng, cohort),
        "dob": col.dates(cohort.dob_us),
        "age": col.ints(age, pa.int32()),  # at load time, as med-z1 computes it
        "sex": col.pick(col.strings(ref.SEXES), sex),
        "gender": col.pick(col.strings(ref.GENDERS), sex),
        "primary_station": col.pick(lookups.sta3n, cohort.station),
        "primary_station_name": col.pick(lookups.station_name, cohort.station),
        "is_sensitive": col.bools(np.zeros(n, dtype=bool)),  # none: flagged by hand
        **_address(rng, cohort),
        **_eligibility(rng, n),
        "deceased_flag": col.pick(col.strings(["N", "Y"]), deceased.astype(np.int64)),
        "death_date": col.dates(cohort.death_us, null=~deceased),
        "source_system": col.pick(lookups.station_source, cohort.station),
        "last_updated": col.timestamps(np.full(n, cohort.loaded_us, dtype=np.int64)),
    }


def _identity(rng: np.random.Generator, cohort: Cohort) -> dict[str, pa.Array]:
    """SSN (never-issued 9xx area) and names."""
    n = cohort.n
    serial = rng.integers(1, 10_000, n)
    ssn = col.join(
        col.numbered("", rng.integers(900, 1000, n)),
        col.numbered("", rng.integers(1, 100, n), width=2),
        col.numbered("", serial, width=4),
        sep="-",
    )
    males, females = len(ref.MALE_FIRST_NAMES), len(ref.FEMALE_FIRST_NAMES)
    first_index = np.where(
        cohort.female, males + rng.integers(0, females, n), rng.integers(0, males, n)
    )
    first = col.pick(col.strings(ref.MALE_FIRST_NAMES + ref.FEMALE_FIRST_NAMES), first_index)
    last = col.pick(col.strings(ref.LAST_NAMES), rng.integers(0, len(ref.LAST_NAMES), n))
    return {
        "ssn": ssn,
        "ssn_last4": col.numbered("", serial, width=4),
        "name_last": last,
        "name_first": first,
        "name_display": col.join(last, first, sep=", "),
    }


def _address(rng: np.random.Generator, cohort: Cohort) -> dict[str, pa.Array]:
    """Street, city, state, ZIP (towns near the patient's station) and a 555-01xx phone."""
    n = cohort.n
    street = col.join(
        col.numbered("", rng.integers(100, 20_000, n)),
        col.pick(col.strings(ref.STREET_NAMES), rng.integers(0, len(ref.STREET_NAMES), n)),
        col.pick(col.strings(ref.STREET_SUFFIXES), rng.integers(0, len(ref.STREET_SUFFIXES), n)),
        sep=" ",
    )
    unit = col.join(
        col.pick(col.strings(ref.UNIT_PREFIXES), rng.integers(0, len(ref.UNIT_PREFIXES), n)),
        col.numbered("", rng.integers(1, 400, n)),
        sep=" ",
    )
    towns = [town for station in ref.STATIONS for town in station.towns]
    per_station = len(ref.STATIONS[0].towns)
    town = cohort.station * per_station + rng.integers(0, per_station, n)
    area = col.pick(col.strings([s.area_code for s in ref.STATIONS]), cohort.station)
    return {
        "address_street1": street,
        "address_street2": col.null_where(unit, rng.random(n) >= 0.15),
        "address_city": col.pick(col.strings([t[0] for t in towns]), town),
        "address_state": col.pick(col.strings([s.state for s in ref.STATIONS]), cohort.station),
        "address_zip": col.pick(col.strings([t[1] for t in towns]), town),
        "phone_primary": col.join(
            "(", area, ") 555-01", col.numbered("", rng.integers(0, 100, n), width=2)
        ),
    }


def _eligibility(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Insurance, marital status, religion, service connection and veteran status."""
    veteran = col.choice(rng, ref.VETERAN_WEIGHTS, n)
    sc_index = col.choice(rng, ref.SC_WEIGHTS, n)
    sc_percent = np.array([p or 0 for p in ref.SC_PERCENTS], dtype=np.int64)[sc_index]
    no_rating = (sc_index == 0) | (veteran != 0)
    return {
        "insurance_company_name": col.pick(
            col.strings(ref.INSURANCE_COMPANIES), col.choice(rng, ref.INSURANCE_WEIGHTS, n)
        ),
        "marital_status": col.pick(
            col.strings(ref.MARITAL_STATUSES), col.choice(rng, ref.MARITAL_WEIGHTS, n)
        ),
        "religion": col.pick(col.strings(ref.RELIGIONS), col.choice(rng, ref.RELIGION_WEIGHTS, n)),
        "service_connected_percent": col.decimals(sc_percent * 100, 5, 2, null=no_rating),
        "veteran_status": col.pick(col.strings(ref.VETERAN_STATUSES), veteran),
    }
