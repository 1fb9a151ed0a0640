"""Read a CSV data file as PostgreSQL's ``COPY ... (FORMAT csv, HEADER)`` reads it.

- Only an unquoted field equal to the NULL string is NULL; by default that is the empty
  field, so ``,,`` is NULL and ``,"",`` is an empty string. ``NA``, ``NULL``, ``nan``,
  ``#N/A`` are text like any other. ``--null STRING`` names another NULL string (then an
  unquoted empty field is an empty string), as COPY's ``NULL`` option does.
- Every cell is read as text and nothing is inferred: ``007``, ``1e3`` and ``true`` stay
  what they say until the table column's type decides (:mod:`medz1.clinical.values`).
- Quoted fields may hold delimiters, doubled quotes and line breaks, at any file size.
- A UTF-8 byte order mark is not part of the first column name; other encodings are
  transcoded by Python's codec of that name (``utf-16`` reads its BOM).
- A row with more or fewer fields than the header is refused by its 1-based data row (a
  record, which may span lines; blank lines are skipped and not counted); a cell that is
  not valid UTF-8 by row and column.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from medz1.clinical.problems import Problem, Problems
from medz1.errors import DataError, UsageError

#: The widest header read without inference (medz1's widest table has 40 columns).
MAX_COLUMNS = 1_000
_BLOCK_SIZE = 1 << 24
_FORBIDDEN_DELIMITERS = {'"': "the quote character", "\n": "a line break", "\r": "a line break"}


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV file is written: delimiter, text encoding and the NULL string."""

    delimiter: str = ","
    encoding: str = "utf8"
    null: str = ""

    def __post_init__(self) -> None:
        """Refuse options that cannot read a CSV file correctly.

        Raises:
            UsageError: A delimiter that is not one ASCII character, is NUL, the quote or a
                line break; an encoding Python does not know as a text encoding; a NULL
                string holding the delimiter, a quote or a line break (as COPY refuses).
        """
        delimiter = self.delimiter
        if len(delimiter) != 1 or not delimiter.isascii():
            raise UsageError(
                f"--delimiter takes one ASCII character, not {delimiter!r}",
                hint="for example --delimiter ';' or --delimiter $'\\t'",
            )
        if delimiter == "\x00" or delimiter in _FORBIDDEN_DELIMITERS:
            what = _FORBIDDEN_DELIMITERS.get(delimiter, "NUL")
            raise UsageError(
                f"--delimiter cannot be {what}", hint="use , ; | or a tab as the delimiter"
            )
        try:
            "".encode(self.encoding)
        except (LookupError, ValueError) as exc:  # ValueError: a NUL in the name
            raise UsageError(
                f"--encoding {self.encoding!r} is not a text encoding Python knows",
                hint="use utf8 (the default), utf-8-sig, utf-16, latin-1, cp1252, ...",
            ) from exc
        if any(c in self.null for c in (delimiter, '"', "\n", "\r")):
            raise UsageError(
                "--null cannot contain the delimiter, a quote or a line break",
                hint="for example --null NULL or --null '\\N'",
            )

    @property
    def utf8(self) -> bool:
        """Whether the file is UTF-8 (read natively, BOM skipped)."""
        return codecs.lookup(self.encoding).name == "utf-8"


def read_csv(path: Path, options: CsvOptions) -> pa.Table:
    """Every cell of a CSV file as text (``binary`` for UTF-8, checked later), header as names.

    Args:
        path: The CSV file (first record is the header).
        options: Delimiter, encoding and NULL string.

    Returns:
        One column per header field, in file order, named as the header says (names may
        repeat or be empty: :func:`medz1.clinical.contract.conform` refuses those).

    Raises:
        DataError: The file is empty, cannot be parsed or transcoded, or has rows with
            another number of fields than its header (each named by row).
    """
    if path.stat().st_size == 0:
        # Refused before pyarrow's reader starts its threads (an empty input ends there in
        # an error raised while they run, which can abort the process at exit).
        raise DataError(
            f"{path.name} is empty: it has no header", hint="write the header and the rows"
        )
    # No invalid_row_handler: pyarrow decodes a bad row's text as UTF-8 before calling it,
    # and a row that is not UTF-8 (random bytes, a Parquet file named .csv) then prints an
    # "Exception ignored" traceback. A ragged row stops the read instead, and the rows are
    # found again with Python's csv reader, on the failure path only.
    try:
        raw = _read_raw(path, options)
    except pa.ArrowInvalid as exc:
        # csv.Error: not CSV even to Python's lenient reader (a field too long, say).
        with contextlib.suppress(csv.Error):
            _refuse_ragged(path, options, _header_width(path, options), 0)
        raise DataError(
            f"{path.name} cannot be read as csv: {str(exc).split(':')[0]}",
            hint="check that it is a CSV file and pass its --delimiter and --encoding",
        ) from exc
    if raw.num_columns > MAX_COLUMNS:
        raise DataError(
            f"{path.name} has {raw.num_columns:,} columns in its header",
            hint=f"a medz1 table has far fewer; at most {MAX_COLUMNS:,} are read",
        )
    return raw.slice(1).rename_columns(_header(path, raw))


def _read_raw(path: Path, options: CsvOptions) -> pa.Table:
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding="utf8" if options.utf8 else options.encoding,
            block_size=_BLOCK_SIZE,
            autogenerate_column_names=True,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=options.delimiter,
            newlines_in_values=True,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{i}": pa.binary() for i in range(MAX_COLUMNS)},
            null_values=[options.null],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _header_width(path: Path, options: CsvOptions) -> int:
    """The number of fields of the first record (0 when there is none)."""
    with path.open(encoding=options.encoding, newline="", errors="replace") as handle:
        records = csv.reader(handle, delimiter=options.delimiter, doublequote=True, strict=False)
        return next((len(r) for r in records if r), 0)


def _header(path: Path, raw: pa.Table) -> list[str]:
    names = []
    for column in raw.columns:
        value = column[0].as_py() if len(column) else None
        try:
            names.append("" if value is None else value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path.name}: the header is not valid UTF-8",
                hint="save the file as UTF-8, or pass --encoding",
            ) from exc
    return names


def _refuse_ragged(path: Path, options: CsvOptions, expected: int, count: int) -> None:
    """Find the rows whose field count differs from the header's (failure path only)."""
    problems = Problems(path)
    with path.open(encoding=options.encoding, newline="", errors="replace") as handle:
        records = csv.reader(handle, delimiter=options.delimiter, doublequote=True, strict=False)
        located = 0
        # Blank lines are skipped by the reader: they are not rows and are not counted.
        for number, record in enumerate(r for r in records if r):
            if number and len(record) != expected:
                reason = f"has {len(record)} fields, the header has {expected}"
                problems.add(Problem(number, None, reason))
                located += 1
    if located < count:
        problems.add(
            Problem(None, None, f"{count:,} row(s) have another number of fields than the header"),
            times=count - located,
        )
    problems.raise_if_any()
