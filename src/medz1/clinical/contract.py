"""Check a data file against its table's contract before anything touches the database.

A file is read into Arrow, its columns matched by name with the table's loadable columns,
cast to the exact Arrow types a COPY needs, and checked for nullability, string lengths
and duplicate natural keys. Every problem is reported by file, row, column and reason (the
first few and a count); a file with any problem is refused as a whole.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import String, Table, UniqueConstraint

from medz1.clinical.arrow_types import arrow_schema, is_generated
from medz1.errors import DataError, NotFoundError
from medz1.models import SCHEMAS, metadata

#: How many problems a refusal lists before it only counts.
SHOWN_PROBLEMS = 10
_CAST_CHUNK = 65_536
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be loaded."""

    row: int | None  # 1-based data row (not counting a CSV header), None for the whole file
    column: str | None
    reason: str

    def describe(self, path: Path) -> str:
        """``file:row: column: reason``."""
        where = f"{path.name}" + (f": row {self.row:,}" if self.row is not None else "")
        return f"{where}: {self.column + ': ' if self.column else ''}{self.reason}"


@dataclass
class Problems:
    """Problems found in one file: the first few in full, and how many in all."""

    path: Path
    shown: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, problem: Problem, *, times: int = 1) -> None:
        """Record ``times`` occurrences, keeping the first one for the report."""
        self.count += times
        if len(self.shown) < SHOWN_PROBLEMS:
            self.shown.append(problem)

    def raise_if_any(self) -> None:
        """Refuse the file if anything was found."""
        if self.count:
            lines = "; ".join(p.describe(self.path) for p in self.shown)
            more = (
                f" (and {self.count - len(self.shown):,} more)"
                if self.count > len(self.shown)
                else ""
            )
            raise DataError(
                f"{self.path.name} refused, {self.count:,} problem(s): {lines}{more}",
                hint="fix the file and load it again; nothing was changed",
            )


def clinical_table(name: str) -> Table:
    """The model table of a clinical table name (``patient_vitals``)."""
    table = metadata.tables.get(f"public.{name}")
    if table is None:
        names = sorted(t.name for t in metadata.tables.values() if t.schema == SCHEMAS[0])
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
    """``parquet`` or ``csv`` from the file name; refuse anything else."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"{path.name} is neither Parquet nor CSV",
            hint="name data files <table>.parquet or <table>.csv",
        )
    return found


def read_file(
    path: Path, table: Table, *, delimiter: str = ",", encoding: str = "utf8"
) -> pa.Table:
    """Read a Parquet or CSV file; CSV columns are read as text and typed by :func:`conform`."""
    kind = file_format(path)
    try:
        if kind == "parquet":
            return pq.read_table(path)
        columns = {c.name: pa.string() for c in table.columns}
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=columns, strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path} does not exist", hint="check the path") from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path.name} cannot be read as {kind}: {str(exc).splitlines()[0]}",
            hint=_read_hint(kind),
        ) from exc


def _read_hint(kind: str) -> str:
    if kind == "csv":
        return "save it as UTF-8 CSV with a header row, or pass --delimiter / --encoding"
    return "the file is not valid Parquet (corrupt or truncated?): export it again"


def conform(data: pa.Table, table: Table, path: Path, *, allow_empty: bool = False) -> pa.Table:
    """Match, type and check ``data`` against ``table``; return it in the exact COPY shape.

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
            hint="pass --allow-empty if the table should really be emptied; nothing was changed",
        )
    # Columns the file leaves out are filled by their server default (e.g. last_updated).
    supplied = pa.schema([f for f in target if f.name in data.column_names])
    columns = [_cast(data.column(f.name), f, problems) for f in supplied]
    problems.raise_if_any()
    conformed = pa.Table.from_arrays(columns, schema=supplied)
    _check_values(conformed, table, problems)
    _check_unique(conformed, natural_key(table), problems)
    problems.raise_if_any()
    return conformed


def _check_columns(data: pa.Table, target: pa.Schema, table: Table, problems: Problems) -> None:
    present = set(data.column_names)
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
    for name in target.names:
        if name not in present:
            default = table.columns[name].server_default is not None
            if not default:
                problems.add(Problem(None, name, "missing column"))
    for name in data.column_names:
        if name not in target.names and name not in generated:
            near = difflib.get_close_matches(name, target.names, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            problems.add(Problem(None, name, f"unknown column{hint}"))


def _cast(column: pa.ChunkedArray, field_: pa.Field, problems: Problems) -> pa.ChunkedArray:
    """Cast one column to its COPY type, locating the rows that refuse."""
    if column.type == field_.type:
        return column
    try:
        return pc.cast(column, field_.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        _locate_cast_failures(column, field_, problems)
        return column


def _locate_cast_failures(column: pa.ChunkedArray, field_: pa.Field, problems: Problems) -> None:
    """Find and report each row whose value cannot become ``field_.type``."""
    flat = column.combine_chunks()
    for start in range(0, len(flat), _CAST_CHUNK):
        chunk = flat.slice(start, _CAST_CHUNK)
        try:
            pc.cast(chunk, field_.type, safe=True)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        for offset in range(len(chunk)):
            value = chunk[offset]
            try:
                pc.cast(pa.array([value.as_py()], type=chunk.type), field_.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                shown = repr(value.as_py())[:40]
                problems.add(
                    Problem(
                        start + offset + 1, field_.name, f"{shown} is not a valid {field_.type}"
                    )
                )


def _check_values(data: pa.Table, table: Table, problems: Problems) -> None:
    for field_ in data.schema:
        column = data.column(field_.name)
        sql_column = table.columns[field_.name]
        if not field_.nullable and column.null_count:
            _report_rows(
                pc.is_null(column), field_.name, "empty, but the column is NOT NULL", problems
            )
        length = getattr(sql_column.type, "length", None)
        if isinstance(sql_column.type, String) and length:
            too_long = pc.greater(pc.utf8_length(column), length)
            _report_rows(
                pc.fill_null(too_long, False),
                field_.name,
                f"longer than {length} characters",
                problems,
            )


def _report_rows(mask: Any, column: str, reason: str, problems: Problems) -> None:
    rows = pc.indices_nonzero(mask.combine_chunks() if hasattr(mask, "combine_chunks") else mask)
    count = len(rows)
    if not count:
        return
    for index in rows.slice(0, SHOWN_PROBLEMS).to_pylist():
        problems.add(Problem(index + 1, column, reason))
    if count > SHOWN_PROBLEMS:
        problems.count += count - SHOWN_PROBLEMS


def _check_unique(data: pa.Table, key: Iterable[str], problems: Problems) -> None:
    names = list(key)
    if not names or data.num_rows == 0:
        return
    counts = data.select(names).group_by(names).aggregate([([], "count_all")])
    duplicated = counts.filter(pc.greater(counts.column("count_all"), 1))
    for row in duplicated.slice(0, SHOWN_PROBLEMS).to_pylist():
        values = ", ".join(f"{n}={row[n]!r}" for n in names)
        problems.add(
            Problem(
                None, ",".join(names), f"duplicate key ({values}) appears {row['count_all']} times"
            )
        )
    if duplicated.num_rows > SHOWN_PROBLEMS:
        problems.count += duplicated.num_rows - SHOWN_PROBLEMS
