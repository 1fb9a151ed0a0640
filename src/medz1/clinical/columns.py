"""Vectorised building blocks of the synthetic generator: numpy in, Arrow arrays out.

Everything here works on whole columns. Times are ``int64`` microseconds since the Unix
epoch in UTC (Arrow's ``timestamp[us, tz=UTC]`` representation), groups are described by
a count per group (rows per patient, reactions per allergy), and nulls by boolean masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from medz1.clinical.arrow_types import UTC_TIMESTAMP

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
US_PER_YEAR = 365 * US_PER_DAY + US_PER_DAY // 4


# --- Arrow arrays -------------------------------------------------------------------------


def strings(values: Sequence[str | None]) -> pa.Array:
    """A small string array (a dictionary of choices) from Python values."""
    return pa.array(values, type=pa.string())


def pick(
    choices: pa.Array, index: npt.NDArray[np.integer], valid: BoolArray | None = None
) -> pa.Array:
    """``choices[index]`` for every row; rows where ``valid`` is False become null.

    Args:
        choices: the values to pick from.
        index: one index into ``choices`` per row.
        valid: False for the rows that become null; None for none.

    Returns:
        One value per row, of the type of ``choices``.
    """
    if valid is None:
        return choices.take(np.asarray(index, dtype=np.int32))
    # A null index takes a null, whatever the index value underneath.
    safe = np.where(valid, index, 0).astype(np.int32)
    return choices.take(pa.array(safe, type=pa.int32(), mask=~valid))


def null_where(values: pa.Array, mask: BoolArray) -> pa.Array:
    """``values`` with the rows of ``mask`` set to null.

    Args:
        values: any Arrow array.
        mask: True for the rows to set to null (same length).

    Returns:
        The array, of the same type.
    """
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def ints(values: npt.ArrayLike, arrow_type: pa.DataType, null: BoolArray | None = None) -> pa.Array:
    """An integer (or boolean) Arrow array from numpy values; ``null`` marks null rows.

    Args:
        values: one integer (or boolean) per row.
        arrow_type: the Arrow type of the result.
        null: True for the rows that are null; None for none.

    Returns:
        The array.
    """
    return pa.array(np.asarray(values), type=arrow_type, mask=null)


def bools(values: BoolArray, null: BoolArray | None = None) -> pa.Array:
    """A boolean Arrow array; ``null`` marks null rows.

    Args:
        values: one boolean per row.
        null: True for the rows that are null; None for none.

    Returns:
        The array.
    """
    return pa.array(values, type=pa.bool_(), mask=null)


def timestamps(micros: IntArray, null: BoolArray | None = None) -> pa.Array:
    """A ``timestamp[us, tz=UTC]`` array from microseconds since the epoch.

    Times are truncated to whole seconds, as source systems record them; truncation keeps
    every order between times (``a <= b`` stays true).

    Args:
        micros: microseconds since the Unix epoch (UTC), one per row.
        null: True for the rows that are null; None for none.

    Returns:
        The array, truncated to whole seconds.
    """
    return pa.array(micros - micros % US_PER_SECOND, type=UTC_TIMESTAMP, mask=null)


def dates(micros: IntArray, null: BoolArray | None = None) -> pa.Array:
    """A ``date32`` array: the UTC calendar day of each timestamp.

    Args:
        micros: microseconds since the Unix epoch (UTC), one per row.
        null: True for the rows that are null; None for none.

    Returns:
        The array.
    """
    return pa.array((micros // US_PER_DAY).astype(np.int32), type=pa.date32(), mask=null)


def decimals(
    unscaled: IntArray, precision: int, scale: int, null: BoolArray | None = None
) -> pa.Array:
    """A ``decimal128(precision, scale)`` array from unscaled integers (12.34 is 1234, scale 2).

    The 16-byte little-endian values are written directly, which is exact and fast.

    Args:
        unscaled: the values times ``10**scale``, one per row.
        precision: total digits of the type (at most 38).
        scale: digits after the decimal point.
        null: True for the rows that are null; None for none.

    Returns:
        The array.
    """
    unscaled = np.ascontiguousarray(unscaled, dtype=np.int64)
    words = np.empty((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63  # sign extension into the high word
    validity = None
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(unscaled), [validity, pa.py_buffer(words)]
    )


def rescale(unscaled: IntArray, from_scale: npt.ArrayLike, to_scale: int) -> IntArray:
    """Unscaled integers of ``from_scale`` (per row or one) expressed at ``to_scale``.

    Args:
        unscaled: values at ``from_scale``.
        from_scale: their scale, one per row or one for all.
        to_scale: the scale wanted (not below any ``from_scale``).

    Returns:
        The values at ``to_scale``.
    """
    factor = np.power(10, to_scale - np.asarray(from_scale, dtype=np.int64))
    return np.asarray(unscaled * factor, dtype=np.int64)


def fixed_text(unscaled: IntArray, scale: int | npt.NDArray[np.integer]) -> pa.Array:
    """Decimal text of unscaled integers (``986, 1 -> "98.6"``); ``scale`` per row or one.

    Values repeat a lot (pulses, lab results), so each distinct scale is formatted once over
    the range of its values and then looked up, which is several times faster than
    formatting every row.

    Args:
        unscaled: the values times ``10**scale``.
        scale: digits after the decimal point, one per row or one for all.

    Returns:
        A string array, one text per row.
    """
    scales = np.broadcast_to(np.asarray(scale, dtype=np.int64), unscaled.shape)
    distinct = np.unique(scales)
    if len(distinct) == 1:
        return _fixed_text_one_scale(unscaled, int(distinct[0]))
    order = np.argsort(scales, kind="stable")
    parts = [_fixed_text_one_scale(unscaled[order][scales[order] == s], int(s)) for s in distinct]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pa.concat_arrays(parts).take(inverse.astype(np.int32))


def _fixed_text_one_scale(unscaled: IntArray, scale: int) -> pa.Array:
    if len(unscaled) == 0:
        return pa.array([], type=pa.string())
    low, high = int(unscaled.min()), int(unscaled.max())
    as_text = pc.cast(decimals(np.arange(low, high + 1, dtype=np.int64), 38, scale), pa.string())
    return as_text.take((unscaled - low).astype(np.int32))


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Row-wise concatenation of string arrays and constant strings."""
    return pc.binary_join_element_wise(*parts, sep)


def numbered(prefix: str, numbers: IntArray, width: int = 0) -> pa.Array:
    """``prefix`` followed by each number, zero-padded to ``width`` digits.

    Args:
        prefix: text before each number (may be empty).
        numbers: one number per row.
        width: digits to zero-pad to; 0 for none.

    Returns:
        A string array.
    """
    text = pc.cast(pa.array(numbers, type=pa.int64()), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return join(prefix, text) if prefix else text


# --- groups (rows per patient, items per parent) -----------------------------------------


def group_of(counts: npt.NDArray[np.integer]) -> IntArray:
    """For rows laid out group after group, the group number of every row."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def group_starts(counts: npt.NDArray[np.integer]) -> IntArray:
    """The first row of every group."""
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def rank_in_group(counts: npt.NDArray[np.integer]) -> IntArray:
    """The position of every row within its group (0, 1, 2, ... per group)."""
    total = int(np.sum(counts))
    return np.arange(total, dtype=np.int64) - np.repeat(group_starts(counts), counts)


def last_in_group(counts: npt.NDArray[np.integer]) -> BoolArray:
    """True for the last row of every group."""
    last: BoolArray = rank_in_group(counts) == np.repeat(
        np.asarray(counts, dtype=np.int64) - 1, counts
    )
    return last


def capped_in_group(wanted: IntArray, groups: IntArray, n_groups: int, cap: int) -> IntArray:
    """``wanted`` per item, cut so that no group's items add up to more than ``cap``.

    ``groups`` gives the group of every item; items of one group must be contiguous and in
    group order. Earlier items of a group keep what they want first.

    Args:
        wanted: what each item wants.
        groups: the group of each item, contiguous and in order.
        n_groups: the number of groups.
        cap: the most a group's items may add up to.

    Returns:
        What each item gets, from 0 to what it wants.
    """
    before = np.cumsum(wanted) - wanted
    first_item = group_starts(np.bincount(groups, minlength=n_groups))
    used_before = before - before[first_item[groups]]
    return np.asarray(np.clip(cap - used_before, 0, wanted), dtype=np.int64)


# --- random draws -------------------------------------------------------------------------


def skewed_counts(rng: np.random.Generator, n: int, low: int, high: int, mean: float) -> IntArray:
    """Counts in ``[low, high]`` with the given mean: most small, a long tail of heavy ones.

    Args:
        rng: the random stream.
        n: how many counts.
        low: the smallest count.
        high: the largest count.
        mean: the mean wanted, strictly between ``low`` and ``high``.

    Returns:
        ``n`` counts.
    """
    fraction = (mean - low) / (high - low)
    shape_a = 1.2
    shape_b = shape_a * (1 - fraction) / fraction
    drawn = low + np.floor(rng.beta(shape_a, shape_b, n) * (high - low + 1))
    return np.asarray(np.minimum(drawn, high), dtype=np.int64)


def choice(rng: np.random.Generator, weights: Sequence[float], n: int) -> IntArray:
    """``n`` indexes into ``weights``, drawn with probability proportional to the weight.

    Args:
        rng: the random stream.
        weights: relative weights, not all zero.
        n: how many draws.

    Returns:
        ``n`` indexes.
    """
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    drawn = rng.random(n) * cumulative[-1]
    index = np.minimum(np.searchsorted(cumulative, drawn, side="right"), len(cumulative) - 1)
    return np.asarray(index, dtype=np.int64)


def distinct_picks(
    rng: np.random.Generator, counts: IntArray, weights: Sequence[float]
) -> IntArray:
    """For every group, ``counts[g]`` different indexes into ``weights``.

    The first pick of a group follows the weights; the next ones step through the choices by
    a stride chosen per group. With a prime number of choices every stride visits each
    choice once, so the picks of a group never repeat (``counts`` must not exceed it).

    Args:
        rng: the random stream.
        counts: picks per group.
        weights: relative weights of the choices (a prime number of them).

    Returns:
        ``counts.sum()`` indexes, group after group.
    """
    n_choices = len(weights)
    first = choice(rng, weights, len(counts))
    stride = rng.integers(1, n_choices, len(counts))
    rank = rank_in_group(counts)
    return (np.repeat(first, counts) + rank * np.repeat(stride, counts)) % n_choices


def sorted_times(
    rng: np.random.Generator,
    counts: IntArray,
    start: IntArray,
    end: IntArray,
    *,
    recent_bias: float = 1.0,
) -> IntArray:
    """``counts[g]`` times per group, increasing within the group, strictly inside
    ``(start[g], end[g])``, spaced like a Poisson process.

    With ``recent_bias`` above 1 the times crowd towards ``end`` (most prescriptions of a
    patient are recent); the order within each group is kept.

    Args:
        rng: the random stream.
        counts: times per group.
        start: each group's start, in microseconds since the epoch.
        end: each group's end, in microseconds since the epoch.
        recent_bias: above 1, times crowd towards ``end``.

    Returns:
        ``counts.sum()`` times in microseconds since the epoch, group after group.
    """
    gaps = rng.exponential(1.0, int(counts.sum()) + len(counts))
    # One extra gap per group after its last event, so the last one is not at ``end``.
    group_plus = np.repeat(np.arange(len(counts)), counts + 1)
    cumulative = np.cumsum(gaps)
    totals = np.bincount(group_plus, weights=gaps, minlength=len(counts))
    base = cumulative[group_starts(counts + 1)] - gaps[group_starts(counts + 1)]
    is_event = ~last_in_group(counts + 1)
    position = (cumulative[is_event] - np.repeat(base, counts)) / np.repeat(totals, counts)
    if recent_bias != 1.0:
        position = 1 - (1 - position) ** recent_bias
    span = (end - start).astype(np.float64)
    return np.repeat(start, counts) + (position * np.repeat(span, counts)).astype(np.int64)


# --- calendar -----------------------------------------------------------------------------


def ymd(micros: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month and day (UTC) of each timestamp."""
    days = (micros // US_PER_DAY).astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months).astype(np.int64) + 1
    return year, month, day


def years_between(earlier: IntArray, later: IntArray) -> IntArray:
    """Whole years from ``earlier`` to ``later`` (an age), by calendar date.

    Args:
        earlier: microseconds since the epoch (a birth).
        later: microseconds since the epoch, one per row.

    Returns:
        Whole years, one per row.
    """
    y1, m1, d1 = ymd(earlier)
    y2, m2, d2 = ymd(later)
    before_birthday = (m2 < m1) | ((m2 == m1) & (d2 < d1))
    return np.asarray(y2 - y1 - before_birthday, dtype=np.int64)


def date_key(micros: IntArray) -> IntArray:
    """The ``YYYYMMDD`` integer of each timestamp's UTC date (CDW date-dimension key)."""
    year, month, day = ymd(micros)
    return year * 10_000 + month * 100 + day
