"""Turn a file's column into its table column's Arrow type exactly, or refuse it by row.

One rule for every input type (Parquet of any writer, CSV text): a value is stored as the
source said it, or the row is refused with its column and reason. Nothing is rounded,
truncated, re-zoned or guessed:

- text columns take text (and integers, written in decimal); NUL characters, which
  PostgreSQL text cannot hold, and JSON that PostgreSQL would reject are refused;
- integers take integers in range, whole floats up to 2**53 (3.0, not 3.5) and text of
  digits with an optional leading minus (no spaces, signs, exponents or hex); booleans,
  dates and times are never numbers;
- ``numeric(p, s)`` takes a value only if it fits exactly: at most ``s`` decimals and
  ``p - s`` digits before the point. A float is judged by its shortest decimal form (what
  ``repr`` prints: 98.6 is 98.6, not its binary expansion); NaN and infinity are refused.
  Text is a plain or exponent decimal number; spaces and decimal commas are refused;
- ``timestamptz`` takes instants: Parquet timestamps with a zone, and ISO 8601 text with
  an offset (``Z``, ``+01:00``). Naive times (no zone: pandas ``datetime64``, Spark
  ``TIMESTAMP_NTZ``, Parquet INT96, dates, text without an offset) are refused unless the
  zone is named (``--assume-timezone``); then times that do not exist in that zone (the
  spring-forward gap) or happen twice (fall-back) are refused. Sub-microsecond parts
  cannot be stored by PostgreSQL and are refused, never rounded;
- ``date`` takes dates, and timestamps only at midnight (in their own zone);
- dates and times before year 1 or past PostgreSQL's range are refused.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import JSON, Column, String

from medz1.clinical.arrow_types import UTC_TIMESTAMP
from medz1.clinical.problems import Problem, Problems

_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)
_CHUNK = 65_536
_EXACT_FLOAT_INTEGER = 2**53
#: 0001-01-01 and the last day PostgreSQL stores (5874897-12-31), in days since 1970-01-01.
FIRST_DAY = -719_162
LAST_DAY = 2_145_042_905
#: 0001-01-01T00:00:00Z in microseconds since the epoch (later ones fit PostgreSQL).
FIRST_MICROSECOND = FIRST_DAY * 86_400_000_000
_INTEGER_TEXT = r"^-?[0-9]+$"
_DECIMAL_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_OFFSET_TEXT = r"[T ][0-9:.]+(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def convert(
    column: pa.ChunkedArray,
    target: pa.Field,
    sql_column: Column[Any],
    problems: Problems,
    *,
    zone: str | None = None,
) -> pa.ChunkedArray | None:
    """``column`` as ``target.type`` exactly, or None with the refused rows in ``problems``.

    Args:
        column: The file's column (any Arrow type a Parquet or CSV reader gives).
        target: The table column's Arrow field (:func:`medz1.clinical.arrow_types.arrow_type`).
        sql_column: The model column (for its length and JSON type).
        problems: Where refusals are recorded, by 1-based row.
        zone: IANA zone that naive times are in (``--assume-timezone``), or None to refuse them.

    Returns:
        The converted column, or None when any row (or the column's type) is refused.
    """
    column = _plain(column)
    to = target.type
    if pa.types.is_null(column.type):
        return pa.chunked_array([pa.nulls(len(column), to)])
    if pa.types.is_binary(column.type) and not pa.types.is_binary(to):
        text = _utf8(column, target.name, problems)
        if text is None:
            return None
        column = text
    if pa.types.is_string(to):
        return _to_text(column, target.name, sql_column, problems)
    if pa.types.is_integer(to):
        return _to_integer(column, target, problems)
    if pa.types.is_decimal(to):
        return _to_decimal(column, target, problems)
    if pa.types.is_boolean(to):
        return _to_boolean(column, target, problems)
    if pa.types.is_date32(to):
        return _to_date(column, target, problems)
    if pa.types.is_timestamp(to):
        return _to_timestamp(column, target, problems, zone)
    if pa.types.is_floating(to) and (_is_number(column.type) or pa.types.is_string(column.type)):
        return _cast_located(column, to, target.name, f"is not a valid {to}", problems)
    if column.type == to:
        return column
    return _wrong_type(column, target, problems)


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary, large and view encodings decoded to plain ``string`` / ``binary``."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pc.cast(column, pa.binary())
    return column


def _is_number(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _wrong_type(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems
) -> pa.ChunkedArray | None:
    problems.add(
        Problem(
            None,
            target.name,
            f"holds {column.type} values, which cannot be stored exactly as {target.type}",
        )
    )
    return None


def _cast_located(
    column: pa.ChunkedArray | pa.Array,
    to: pa.DataType,
    name: str,
    reason: str,
    problems: Problems,
    *,
    show: pa.ChunkedArray | pa.Array | None = None,
) -> pa.ChunkedArray | None:
    """A safe cast; on failure, the failing rows are found (by chunk, then by row) and refused."""
    try:
        cast = pc.cast(column, to, safe=True)
    except _CAST_ERRORS:
        pass
    else:
        return cast if isinstance(cast, pa.ChunkedArray) else pa.chunked_array([cast])
    flat = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    bad = np.zeros(len(flat), dtype=bool)
    for start in range(0, len(flat), _CHUNK):
        chunk = flat.slice(start, _CHUNK)
        try:
            pc.cast(chunk, to, safe=True)
            continue
        except _CAST_ERRORS:
            pass
        for offset in range(len(chunk)):
            try:
                pc.cast(chunk.slice(offset, 1), to, safe=True)
            except _CAST_ERRORS:
                bad[start + offset] = True
    if not problems.rows(pa.array(bad), name, reason, values=show):
        problems.add(Problem(None, name, f"cannot be stored as {to}"))
    return None


def _utf8(column: pa.ChunkedArray, name: str, problems: Problems) -> pa.ChunkedArray | None:
    """Bytes (a CSV cell, a Parquet BYTE_ARRAY) as text, refusing cells that are not UTF-8."""
    return _cast_located(
        column,
        pa.string(),
        name,
        "is not valid UTF-8 (is the file in another encoding? pass --encoding)",
        problems,
    )


# --- text ----------------------------------------------------------------------------------


def _to_text(
    column: pa.ChunkedArray, name: str, sql_column: Column[Any], problems: Problems
) -> pa.ChunkedArray | None:
    kind = column.type
    text: pa.ChunkedArray | None = column
    if pa.types.is_integer(kind):
        text = pc.cast(column, pa.string())
    elif not pa.types.is_string(kind):
        return _wrong_type(column, pa.field(name, pa.string()), problems)
    if text is None:
        return None
    refused = problems.rows(
        pc.match_substring(text, "\x00"),
        name,
        "contains a NUL character, which PostgreSQL text cannot hold",
    )
    length = getattr(sql_column.type, "length", None)
    if isinstance(sql_column.type, String) and length:
        refused += problems.rows(
            pc.greater(pc.utf8_length(text), length), name, f"longer than {length} characters"
        )
    if isinstance(sql_column.type, JSON) or _is_json(sql_column):
        refused += _check_json(text, name, problems)
    return None if refused else text


def _is_json(sql_column: Column[Any]) -> bool:
    impl = getattr(sql_column.type, "impl_instance", None)
    return isinstance(impl, JSON)


def _check_json(text: pa.ChunkedArray, name: str, problems: Problems) -> int:
    """Refuse rows PostgreSQL's json/jsonb input would reject (each distinct value parsed once)."""
    distinct = pc.unique(text.drop_null()).to_pylist()
    bad = [value for value in distinct if not valid_json(value)]
    if not bad:
        return 0
    return problems.rows(
        pc.is_in(text, value_set=pa.array(bad, pa.string())), name, "is not valid JSON"
    )


def valid_json(text: str) -> bool:
    r"""Whether PostgreSQL's ``jsonb`` input accepts ``text`` (RFC 8259).

    Python's parser also takes ``NaN`` and ``Infinity``, lone surrogate escapes and
    ``\u0000``, which jsonb refuses; those are refused here too.

    Never raises: text that jsonb would refuse gives False.
    """

    def no_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=no_constant)
        dumped = json.dumps(value, ensure_ascii=False)
        dumped.encode("utf-8")
    except (ValueError, RecursionError, UnicodeEncodeError):
        return False
    return "\\u0000" not in dumped


# --- numbers -------------------------------------------------------------------------------


def _text_shape(
    column: pa.ChunkedArray, pattern: str, name: str, reason: str, problems: Problems
) -> bool:
    """Refuse text cells that do not match ``pattern``; True if all do."""
    wrong = pc.invert(pc.match_substring_regex(column, pattern))
    return not problems.rows(wrong, name, reason, values=column)


def _to_integer(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems
) -> pa.ChunkedArray | None:
    kind, name, to = column.type, target.name, target.type
    out_of_range = f"is out of range for {to}"
    if pa.types.is_integer(kind):
        return _cast_located(column, to, name, out_of_range, problems, show=column)
    if pa.types.is_floating(kind):
        if not _finite(column, name, problems):
            return None
        if problems.rows(
            pc.greater(pc.abs(column), _EXACT_FLOAT_INTEGER),
            name,
            "is a float too large to be an exact integer; write it as an integer",
            values=column,
        ):
            return None
        return _cast_located(
            column, to, name, f"is not a whole number in range of {to}", problems, show=column
        )
    if pa.types.is_decimal(kind):
        return _cast_located(
            column, to, name, f"is not a whole number in range of {to}", problems, show=column
        )
    if pa.types.is_string(kind):
        if not _text_shape(
            column,
            _INTEGER_TEXT,
            name,
            "is not an integer (digits with an optional leading minus)",
            problems,
        ):
            return None
        return _cast_located(column, to, name, out_of_range, problems, show=column)
    return _wrong_type(column, target, problems)


def _finite(column: pa.ChunkedArray, name: str, problems: Problems) -> bool:
    return not problems.rows(
        pc.invert(pc.is_finite(column)), name, "is NaN or infinite, not a number"
    )


def _to_decimal(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems
) -> pa.ChunkedArray | None:
    kind, name, to = column.type, target.name, target.type
    fits = (
        f"does not fit numeric({to.precision},{to.scale}) exactly (at most {to.scale} "
        f"decimals and {to.precision - to.scale} digits before the point)"
    )
    if pa.types.is_decimal(kind):
        return _cast_located(column, to, name, fits, problems, show=column)
    if pa.types.is_integer(kind):
        wide = pc.cast(column, pa.decimal128(38, 0))
        return _cast_located(wide, to, name, fits, problems, show=column)
    original = column
    if pa.types.is_floating(kind):
        if not _finite(column, name, problems):
            return None
        # Arrow writes a float's shortest round-trip decimal form, as Python's repr does.
        column = pc.cast(column, pa.string())
        kind = column.type
    if pa.types.is_string(kind):
        if not _text_shape(
            column,
            _DECIMAL_TEXT,
            name,
            "is not a decimal number (digits, one '.', optional sign and exponent)",
            problems,
        ):
            return None
        return _cast_located(column, to, name, fits, problems, show=original)
    return _wrong_type(column, target, problems)


def _to_boolean(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems
) -> pa.ChunkedArray | None:
    if pa.types.is_boolean(column.type):
        return column
    if pa.types.is_string(column.type):
        return _cast_located(
            column,
            pa.bool_(),
            target.name,
            "is not a boolean (true, false, 1 or 0, in any case)",
            problems,
            show=column,
        )
    return _wrong_type(column, target, problems)


# --- dates and times -----------------------------------------------------------------------


def _to_date(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems
) -> pa.ChunkedArray | None:
    kind, name = column.type, target.name
    days: pa.ChunkedArray | None
    if pa.types.is_date32(kind):
        days = column
    elif pa.types.is_date64(kind):
        days = _cast_located(column, pa.date32(), name, "has a time of day", problems)
    elif pa.types.is_timestamp(kind):
        local = column if kind.tz is None else pc.local_timestamp(column)
        truncated = pc.cast(local, pa.date32(), safe=False)
        timed = pc.not_equal(pc.cast(truncated, local.type), local)
        if problems.rows(
            timed,
            name,
            "has a time of day; a date column takes whole days (nothing is truncated)",
            values=pc.cast(local, pa.string()),
        ):
            return None
        days = truncated
    elif pa.types.is_string(kind):
        days = _cast_located(
            column, pa.date32(), name, "is not a date (YYYY-MM-DD)", problems, show=column
        )
    else:
        return _wrong_type(column, target, problems)
    if days is None:
        return None
    number = pc.cast(days, pa.int32())
    outside = pc.or_(pc.less(number, FIRST_DAY), pc.greater(number, LAST_DAY))
    if problems.rows(outside, name, "is outside the dates stored (year 1 to 5874897)"):
        return None
    return days


def _to_timestamp(
    column: pa.ChunkedArray, target: pa.Field, problems: Problems, zone: str | None
) -> pa.ChunkedArray | None:
    kind, name = column.type, target.name
    aware = target.type.tz is not None
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        if not aware:
            return _wrong_type(column, target, problems)
        instants = _microseconds(column, name, problems)
    elif pa.types.is_timestamp(kind):
        naive = _microseconds(column, name, problems)
        instants = _zoned(naive, name, problems, zone) if aware and naive is not None else naive
    elif pa.types.is_date32(kind) or pa.types.is_date64(kind):
        naive = pc.cast(column, pa.timestamp("us"))
        instants = _zoned(naive, name, problems, zone) if aware else naive
    elif pa.types.is_string(kind):
        instants = _timestamp_text(column, name, problems, zone, aware=aware)
    else:
        return _wrong_type(column, target, problems)
    if instants is None:
        return None
    early = pc.less(pc.cast(instants, pa.int64()), FIRST_MICROSECOND)
    if problems.rows(early, name, "is before year 1, outside the times stored"):
        return None
    return pc.cast(instants, target.type)


def _microseconds(column: pa.ChunkedArray, name: str, problems: Problems) -> pa.ChunkedArray | None:
    """A timestamp column in microseconds, its zone kept; sub-microsecond parts refused."""
    kind = column.type
    to = pa.timestamp("us", tz=kind.tz)
    if kind.unit == "ns":
        ticks = pc.cast(column, pa.int64())
        sub = pc.not_equal(pc.multiply(pc.divide(ticks, 1000), 1000), ticks)
        if problems.rows(
            sub,
            name,
            "has nanoseconds; PostgreSQL keeps microseconds and nothing is rounded",
            values=pc.cast(column, pa.string()),
        ):
            return None
    return _cast_located(column, to, name, "is outside the times stored", problems)


def _timestamp_text(
    column: pa.ChunkedArray, name: str, problems: Problems, zone: str | None, *, aware: bool
) -> pa.ChunkedArray | None:
    """ISO 8601 text: with an offset it is an instant, without one a naive time."""
    if problems.rows(
        pc.match_substring_regex(column, r"\.[0-9]{7,}"),
        name,
        "has more than 6 fractional digits; PostgreSQL keeps microseconds and nothing is rounded",
        values=column,
    ):
        return None
    offset = pc.match_substring_regex(column, _OFFSET_TEXT)
    not_iso = "is not an ISO 8601 time (YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM])"
    naive_text = pc.if_else(offset, pa.scalar(None, pa.string()), column)
    naive = _cast_located(naive_text, pa.timestamp("us"), name, not_iso, problems, show=naive_text)
    if not aware:
        if problems.rows(offset, name, "has a zone offset, but the column stores local times"):
            return None
        return naive
    zoned_text = pc.if_else(offset, column, pa.scalar(None, pa.string()))
    instants = _cast_located(zoned_text, UTC_TIMESTAMP, name, not_iso, problems, show=zoned_text)
    if instants is None or naive is None:
        return None
    if naive.null_count == len(naive):
        return instants
    local = _zoned(naive, name, problems, zone)
    return None if local is None else pc.coalesce(instants, local)


def _zoned(
    naive: pa.ChunkedArray, name: str, problems: Problems, zone: str | None
) -> pa.ChunkedArray | None:
    """Naive wall-clock times read in ``zone``; refused without one, or where they do not
    exist (spring-forward gap) or are ambiguous (fall-back) there.
    """
    if zone is None:
        problems.rows(
            pc.is_valid(naive),
            name,
            "has no time zone (a naive time); pass --assume-timezone ZONE to name the "
            "zone the file's times are in, or write them with an offset",
        )
        return None

    def assume(ambiguous: str, nonexistent: str) -> pa.ChunkedArray:
        return pc.assume_timezone(
            naive, timezone=zone, ambiguous=ambiguous, nonexistent=nonexistent
        )

    first = assume("earliest", "earliest")
    shown = pc.cast(naive, pa.string())
    refused = problems.rows(
        pc.not_equal(first, assume("latest", "earliest")),
        name,
        f"is ambiguous in {zone} (the clocks went back: it happened twice)",
        values=shown,
    )
    refused += problems.rows(
        pc.not_equal(first, assume("earliest", "latest")),
        name,
        f"does not exist in {zone} (the clocks went forward over it)",
        values=shown,
    )
    return None if refused else pc.cast(first, UTC_TIMESTAMP)
