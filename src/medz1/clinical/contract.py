"""Check a data file against its table's contract before anything touches the database.

A file is read into Arrow as it is (:mod:`medz1.clinical.csvfile` for CSV), its columns
matched by name with the table's loadable columns (empty, repeated, missing and unknown
names refused), each column converted exactly to the Arrow type a COPY needs
(:mod:`medz1.clinical.values`), then rows checked for NOT NULL, the table's CHECK
constraints and duplicate natural keys. Every problem is reported by file, 1-based row,
column and reason (the first few and a count); a file with any problem is refused whole.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import CheckConstraint, Table, UniqueConstraint

from medz1.clinical.arrow_types import arrow_schema, is_generated
from medz1.clinical.csvfile import CsvOptions, read_csv
from medz1.clinical.problems import SHOWN_PROBLEMS, Problem, Problems
from medz1.clinical.values import convert
from medz1.errors import DataError, NotFoundError, UsageError
from medz1.models import SCHEMAS, metadata

__all__ = ["SHOWN_PROBLEMS", "CsvOptions", "Problem", "Problems"]

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


#: Tables of ``public`` that medz1 derives from the others; no file loads them.
DERIVED_TABLES = frozenset({"patient_chart_documents"})


def clinical_table(name: str) -> Table:
    """The model table of a clinical table name (``patient_vitals``).

    Raises:
        NotFoundError: no clinical table has that name (the message suggests near names;
            the derived chart documents are not loadable: the loader rebuilds them).
    """
    table = metadata.tables.get(f"public.{name}")
    if table is None or table.name in DERIVED_TABLES:
        names = sorted(
            t.name
            for t in metadata.tables.values()
            if t.schema == SCHEMAS[0] and t.name not in DERIVED_TABLES
        )
        near = difflib.get_close_matches(name, names, n=2)
        raise NotFoundError(
            f"no clinical table named {name!r}",
            hint=("did you mean " + " or ".join(near) + "?")
            if near
            else "use one of " + ", ".join(names),
        )
    return table


def natural_key(table: Table) -> list[str]:
    """Columns of the key that identifies a row in the data (led by ``patient_key``)."""
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            return [c.name for c in constraint.columns]
    return [c.name for c in table.primary_key.columns if not is_generated(c)]


def file_format(path: Path) -> str:
    """``parquet`` or ``csv`` from the file name; refuse anything else.

    Raises:
        DataError: the name ends in neither ``.parquet`` nor ``.csv``.
    """
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"{path.name} is neither Parquet nor CSV",
            hint="name data files <table>.parquet or <table>.csv",
        )
    return found


def check_zone(zone: str | None) -> str | None:
    """Validate ``--assume-timezone``: an IANA zone name both zoneinfo and Arrow know.

    Raises:
        UsageError: The zone is unknown (exit 2).
    """
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
        pc.assume_timezone(pa.array([], pa.timestamp("us")), timezone=zone)
    except (ZoneInfoNotFoundError, ValueError, pa.ArrowInvalid) as exc:
        raise UsageError(
            f"--assume-timezone {zone!r} is not a known time zone",
            hint="name an IANA zone, for example America/New_York or UTC",
        ) from exc
    return zone


def read_file(path: Path, table: Table, *, csv: CsvOptions | None = None) -> pa.Table:
    """Read a Parquet or CSV file as it is; :func:`conform` types and checks it.

    Args:
        path: A ``.parquet`` / ``.pq`` or ``.csv`` file.
        table: Its table (unused for the reading itself: nothing is inferred from it).
        csv: How a CSV file is written (default: comma, UTF-8, empty field is NULL).

    Raises:
        NotFoundError: The file does not exist.
        DataError: The file cannot be read as its format.
    """
    if not path.exists():  # before its name is judged: a typo is not a format error
        raise NotFoundError(f"{path} does not exist", hint="check the path")
    kind = file_format(path)
    try:
        if kind == "parquet":
            return _read_parquet(path)
        return read_csv(path, csv or CsvOptions())
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path} does not exist", hint="check the path") from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeError) as exc:
        # pyarrow's CSV messages may quote a whole row: only their first clause is shown.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = first if kind == "parquet" else first.split(":")[0]
        if isinstance(exc, UnicodeDecodeError):
            reason = f"byte {exc.start:,} of a block is not valid {exc.encoding}"
        elif isinstance(exc, UnicodeError):  # e.g. UTF-16 without a byte order mark
            reason = f"the text cannot be decoded as {csv.encoding if csv else 'utf8'}"
        raise DataError(
            f"{path.name} cannot be read as {kind}: {reason}", hint=_read_hint(kind)
        ) from exc


def _read_parquet(path: Path) -> pa.Table:
    """A Parquet file; INT96 timestamps read without the reader's silent overflow.

    INT96 (Impala, old Spark) holds nanoseconds and no zone. Read as ``timestamp[ns]``,
    times outside 1677-2262 wrap around silently; such columns are read in microseconds
    instead (their sub-microsecond part, if any, is then dropped by the reader). Columns
    whose every time fits keep their nanoseconds, so a sub-microsecond part is refused.
    """
    with pq.ParquetFile(path) as source:
        table = source.read()  # not read_table: it refuses a file naming a column twice
        schema = source.schema
    int96 = [
        schema.column(i).path
        for i in range(len(schema))
        if schema.column(i).physical_type == "INT96" and schema.column(i).path in table.column_names
    ]
    if not int96:
        return table
    with pq.ParquetFile(path, coerce_int96_timestamp_unit="us") as source:
        micro = source.read(columns=int96)
    for name in int96:
        nanos = pc.cast(table.column(name), pa.int64())
        micros = pc.cast(micro.column(name), pa.int64())
        apart = pc.abs(pc.subtract(pc.divide(nanos, 1000), micros))
        if pc.all(pc.less_equal(apart, 1)).as_py() is not False:
            continue
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, micro.column(name))
    return table


def _read_hint(kind: str) -> str:
    if kind == "csv":
        return "save it as UTF-8 CSV with a header row, or pass --delimiter / --encoding"
    return "the file is not valid Parquet (corrupt or truncated?): export it again"


def conform(
    data: pa.Table,
    table: Table,
    path: Path,
    *,
    allow_empty: bool = False,
    zone: str | None = None,
    empty_hint: str = "pass --allow-empty if the table should really be emptied; "
    "nothing was changed",
) -> pa.Table:
    """Match, type and check ``data`` against ``table``; return it in the exact COPY shape.

    Args:
        data: The file as read by :func:`read_file`.
        table: Its model table.
        path: The file (for messages).
        allow_empty: Let a file with no rows through (it empties the table).
        zone: IANA zone naive times are in (``--assume-timezone``); None refuses them.
        empty_hint: What to do about a file with no rows (the caller's option, if any).

    Raises:
        DataError: listing every problem (first few in full) when the file does not conform.
    """
    problems = Problems(path)
    target = arrow_schema(table)
    _check_columns(data, target, table, problems)
    problems.raise_if_any()
    if data.num_rows == 0 and not allow_empty:
        raise DataError(
            f"{path.name} has no rows; loading it would empty {table.name}",
            hint=empty_hint,
        )
    # Columns the file leaves out are filled by their server default (e.g. last_updated).
    supplied = pa.schema([f for f in target if f.name in data.column_names])
    columns = [
        convert(data.column(f.name), f, table.columns[f.name], problems, zone=zone)
        for f in supplied
    ]
    problems.raise_if_any()
    conformed = pa.Table.from_arrays(columns, schema=supplied)
    _check_not_null(conformed, problems)
    _check_constraints(conformed, table, problems)
    _check_unique(conformed, natural_key(table), problems)
    problems.raise_if_any()
    return conformed


def _check_columns(data: pa.Table, target: pa.Schema, table: Table, problems: Problems) -> None:
    names = data.column_names
    present = set(names)
    generated = {c.name for c in table.columns if is_generated(c)}
    if len(present) == 1 and len(target) > 1:
        only = next(iter(present))
        if any(sep in only for sep in (";", "\t", "|")):
            problems.add(
                Problem(
                    None,
                    None,
                    "the header is one column: is the file delimited by "
                    "another character? pass --delimiter",
                )
            )
            return
    known = set(target.names) | generated
    if names and not present & known:
        # Not a header at all (a missing header, or blank lines before the data): its
        # fields may be patient data, so they are not named.
        problems.add(
            Problem(
                None,
                None,
                "the first row names none of the table's columns: is the header missing?",
            )
        )
        return
    for position, name in enumerate(names, start=1):
        if not name.strip():
            problems.add(
                Problem(
                    None,
                    None,
                    f"header field {position} has no column name "
                    "(an empty name, or a delimiter at the end of the header)",
                )
            )
    for name in sorted({n for n in names if names.count(n) > 1 and n.strip()}):
        problems.add(Problem(None, name, f"appears {names.count(name)} times in the header"))
    for name in target.names:
        if name not in present:
            default = table.columns[name].server_default is not None
            if not default:
                problems.add(Problem(None, name, "missing column"))
    for name in names:
        if name.strip() and name not in target.names and name not in generated:
            near = difflib.get_close_matches(name, target.names, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            problems.add(Problem(None, name, f"unknown column{hint}"))


def _check_not_null(data: pa.Table, problems: Problems) -> None:
    for field_ in data.schema:
        column = data.column(field_.name)
        if not field_.nullable and column.null_count:
            problems.rows(pc.is_null(column), field_.name, "empty, but the column is NOT NULL")


_IN = re.compile(r"^(\w+) IN \((.*)\)$")
_BETWEEN = re.compile(r"^(\w+) BETWEEN (-?[0-9.]+) AND (-?[0-9.]+)$")
_EQUAL = re.compile(r"^(\w+) = (\w+)$")


def _check_constraints(data: pa.Table, table: Table, problems: Problems) -> None:
    """Evaluate the table's CHECK constraints in Arrow where their form is known.

    Forms: ``c IN ('a', 'b')``, ``c BETWEEN x AND y``, ``c = d``. A NULL passes a CHECK
    (SQL's rule). Other forms are left to the server, whose refusal is translated by
    constraint name (:mod:`medz1.clinical.load`).
    """
    for constraint in table.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue
        rule = str(constraint.sqltext).strip()
        found = _violations(data, rule)
        if found is not None:
            column, violated = found
            problems.rows(violated, column, f"violates CHECK constraint {constraint.name} ({rule})")


def _violations(data: pa.Table, rule: str) -> tuple[str, Any] | None:
    names = data.column_names
    if (match := _IN.match(rule)) and match.group(1) in names:
        column = data.column(match.group(1))
        allowed = [v.strip().strip("'") for v in match.group(2).split(",")]
        if not pa.types.is_string(column.type):
            return None
        outside = pc.invert(pc.is_in(column, value_set=pa.array(allowed)))
        return match.group(1), pc.and_(pc.is_valid(column), outside)
    if (match := _BETWEEN.match(rule)) and match.group(1) in names:
        column = data.column(match.group(1))
        if not (pa.types.is_decimal(column.type) or pa.types.is_integer(column.type)):
            return None
        wide = pc.cast(column, pa.decimal128(38, 10))
        low, high = (pa.scalar(Decimal(v), pa.decimal128(38, 10)) for v in match.groups()[1:])
        return match.group(1), pc.or_(pc.less(wide, low), pc.greater(wide, high))
    if (match := _EQUAL.match(rule)) and {match.group(1), match.group(2)} <= set(names):
        left, right = data.column(match.group(1)), data.column(match.group(2))
        if left.type != right.type:
            return None
        return match.group(1), pc.not_equal(left, right)
    return None


def _check_unique(data: pa.Table, key: Iterable[str], problems: Problems) -> None:
    """Refuse rows whose natural key repeats an earlier row's, naming both rows (not the key)."""
    names = list(key)
    if not names or data.num_rows == 0 or not set(names) <= set(data.column_names):
        return
    keyed = data.select(names).append_column("row", pa.array(np.arange(data.num_rows)))
    for name in names:
        keyed = keyed.filter(pc.is_valid(keyed.column(name)))
    counts = keyed.group_by(names, use_threads=False).aggregate(
        [("row", "min"), ("row", "max"), ([], "count_all")]
    )
    duplicated = counts.filter(pc.greater(counts.column("count_all"), 1))
    label = ",".join(names)
    for row in duplicated.slice(0, SHOWN_PROBLEMS).to_pylist():
        problems.add(
            Problem(
                row["row_max"] + 1,
                label,
                f"duplicate key: the same ({label}) as row {row['row_min'] + 1:,} "
                f"({row['count_all']} rows share it)",
            )
        )
    if duplicated.num_rows > SHOWN_PROBLEMS:
        problems.count += duplicated.num_rows - SHOWN_PROBLEMS
