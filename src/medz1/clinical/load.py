"""Load clinical data files into their tables: checked first, then atomic and fast.

Every file is read and checked against its table's contract before the database is
touched (:mod:`medz1.clinical.contract`). All files of a load then go in one transaction,
which also rebuilds the chart documents of the patients it touched
(:func:`medz1.dal.chart.refresh_documents`):

- ``replace``: ``DELETE`` the table's rows and ``COPY`` the file's rows into the table
  itself. Other sessions keep seeing the old rows until the commit (MVCC), then the new
  ones; never an empty or partial table. The table, its types, keys, indexes, comments
  and grants are never dropped or re-created. Copying straight into the table inside the
  deleting transaction gives the atomicity of a staging swap without writing every row
  twice.
- ``upsert``: ``COPY`` into a temporary staging table, then ``INSERT ... ON CONFLICT`` on
  the natural key; with ``prune``, rows of the file's patients that the file no longer
  has are deleted.

Rows travel in PostgreSQL's binary COPY format, encoded from Arrow by pgpq in native
code: the server parses no text and no Python code touches a row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg import sql
from sqlalchemy import Engine, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from medz1.clinical.contract import (
    CsvOptions,
    check_zone,
    clinical_table,
    conform,
    file_format,
    natural_key,
    read_file,
)
from medz1.dal.chart import refresh_documents
from medz1.db.errors import sqlstate, translated
from medz1.errors import DataError, NotFoundError, UsageError
from medz1.models.clinical import PatientChartDocument

Mode = Literal["replace", "upsert"]
Progress = Callable[[str, int], None]
_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class LoadFile:
    """A checked file, ready to load: its table and its rows in COPY shape."""

    path: Path
    table: Table
    data: pa.Table

    @property
    def rows(self) -> int:
        """Number of rows in the file."""
        return int(self.data.num_rows)


@dataclass(frozen=True)
class TableLoad:
    """What loading one file did."""

    table: str
    rows: int
    removed: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Throughput of this table's load."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def discover(path: Path, *, table: str | None = None) -> list[tuple[Path, Table]]:
    """The files of a load: one file (its table from ``table`` or its name), or every
    ``<table>.parquet`` / ``<table>.csv`` in a folder.

    Args:
        path: a ``.parquet``/``.csv`` file or a folder of them.
        table: the table of a single file when its name is not the table's.

    Returns:
        One entry per file, each naming its table.

    Raises:
        NotFoundError: ``path`` does not exist, or a folder holds no data file.
        UsageError: ``table`` with a folder, or two files for one table.
    """
    if not path.exists():
        raise NotFoundError(f"{path} does not exist", hint="check the path")
    if path.is_file():
        file_format(path)
        return [(path, clinical_table(table or path.stem))]
    if table is not None:
        raise UsageError("--table goes with a single file", hint="leave it out for a folder")
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".parquet", ".pq", ".csv")
    )
    if not files:
        raise NotFoundError(
            f"{path} holds no .parquet or .csv files",
            hint="name files after their tables, e.g. patient_vitals.parquet",
        )
    found = [(f, clinical_table(f.stem)) for f in files]
    names = [t.name for _, t in found]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(
            f"more than one file for {', '.join(duplicated)}",
            hint="keep one file per table in the folder",
        )
    return found


def prepare(
    path: Path,
    *,
    table: str | None = None,
    delimiter: str = ",",
    encoding: str = "utf8",
    null: str = "",
    assume_timezone: str | None = None,
    allow_empty: bool = False,
) -> list[LoadFile]:
    """Read and check every file of a load; raise before anything touches the database.

    Args:
        path: A data file or a folder of them.
        table: The table of a single file (default: the file's name).
        delimiter: CSV field delimiter (one ASCII character).
        encoding: CSV text encoding (a Python codec name).
        null: The unquoted CSV field that means NULL (COPY's ``NULL``; default empty).
        assume_timezone: IANA zone of naive times (None refuses naive times).
        allow_empty: Let a file with no rows empty its table.

    Raises:
        UsageError: Options that cannot read a file correctly (exit 2).
        DataError: A file that does not conform, by file, row, column and reason (exit 8).
        NotFoundError: A path or table that does not exist.
    """
    csv = CsvOptions(delimiter=delimiter, encoding=encoding, null=null)
    zone = check_zone(assume_timezone)
    prepared = []
    for file, model in discover(path, table=table):
        data = read_file(file, model, csv=csv)
        checked = conform(data, model, file, allow_empty=allow_empty, zone=zone)
        prepared.append(LoadFile(file, model, checked))
    return prepared


def load(
    engine: Engine,
    files: Iterable[LoadFile],
    *,
    mode: Mode = "replace",
    prune: bool = False,
    progress: Progress | None = None,
    before_commit: Callable[[Connection], None] | None = None,
) -> list[TableLoad]:
    """Load checked files in ONE transaction: all tables change, or none does.

    ``before_commit`` runs in that transaction after the last file (e.g. to record the
    load's version with it).

    Args:
        engine: an engine for ``medz1_loader`` on the medz1 database.
        files: files checked against their table's contract
            (:func:`medz1.clinical.contract.conform`).
        mode: ``replace`` empties each table first; ``upsert`` inserts or updates by key.
        prune: with ``upsert``, delete the rows of the file's patients that the file no
            longer holds.
        progress: called with the table's name and the rows of each batch sent; None
            reports nothing.
        before_commit: run on the load's connection after the last file, before the commit.

    Returns:
        One entry per table loaded: its rows, the rows removed and the seconds taken.

    Raises:
        UsageError: ``prune`` without upsert mode.
        DataError: a file or row is refused (named by file, row and column; nothing loaded).
        sqlalchemy.exc.DBAPIError: another server error, left for the edge to translate
            by SQLSTATE (nothing loaded).
    """
    if prune and mode != "upsert":
        raise UsageError("--prune goes with --mode upsert", hint="add --mode upsert")
    results = []
    touched: set[str] = set()
    with translated(), engine.begin() as conn:
        for file in files:
            started = time.perf_counter()
            try:
                if mode == "replace":
                    removed = _replace(conn, file, progress)
                else:
                    removed = _upsert(conn, file, progress, prune=prune)
                    touched.update(_staged_patients(conn, file))
            except (psycopg.Error, sa_exc.DBAPIError) as exc:
                refused = refusal(exc, file.path)
                if refused is None:
                    raise
                raise refused from exc
            _analyze(conn, file.table)
            results.append(
                TableLoad(file.table.name, file.rows, removed, time.perf_counter() - started)
            )
        if results:
            # The chart documents change with the rows, in the same transaction: a replace
            # may touch every patient (and remove some), an upsert those of its files.
            refresh_documents(conn, None if mode == "replace" else sorted(touched))
            if mode == "replace":
                _analyze(conn, PatientChartDocument.__table__)  # type: ignore[arg-type]
        if before_commit is not None:
            before_commit(conn)
    return results


def _name(table: Table) -> sql.Identifier:
    return sql.Identifier(table.schema or "public", table.name)


def _columns(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _execute(conn: Connection, statement: sql.Composable) -> Any:
    raw = conn.connection.dbapi_connection
    return conn.exec_driver_sql(statement.as_string(raw))  # type: ignore[arg-type]


def _encoder(file: LoadFile) -> ArrowToPostgresBinaryEncoder:
    """A binary COPY encoder for the file's columns; JSON columns are sent as jsonb."""
    schema = file.data.schema
    encoders = {
        field.name: (
            StringEncoderBuilder.new_with_output(field, Jsonb())
            if isinstance(file.table.columns[field.name].type, JSONB)
            else ArrowToPostgresBinaryEncoder.infer_encoder(field)
        )
        for field in schema
    }
    return ArrowToPostgresBinaryEncoder.new_with_encoders(schema, encoders)


def _copy(
    conn: Connection, target: sql.Composable, file: LoadFile, progress: Progress | None
) -> None:
    """Stream the file's rows into ``target`` with a binary COPY ... FROM STDIN.

    Arrow batches are encoded in PostgreSQL's binary COPY format by pgpq (native code),
    so the server parses nothing and no Python code touches a row.
    """
    raw = conn.connection.dbapi_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        target, _columns(file.data.column_names)
    )
    encoder = _encoder(file)
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(encoder.write_header())
        for batch in file.data.to_batches(max_chunksize=_BATCH_ROWS):
            copy.write(encoder.write_batch(batch))
            if progress is not None:
                progress(file.table.name, batch.num_rows)
        copy.write(encoder.finish())


#: SQLSTATE classes of a value the server refuses: data exception, integrity violation.
DATA_EXCEPTION_CLASS = "22"
INTEGRITY_VIOLATION_CLASS = "23"
_REASONS = {
    "23502": "empty, but the column is NOT NULL",
    "23503": "refers to a row that does not exist",
    "23505": "duplicate key",
    "23514": "violates a CHECK constraint",
    "22001": "too long for the column",
    "22003": "out of range for the column's type",
    "22008": "a date or time out of the range PostgreSQL stores",
    "22021": "a byte sequence that is not valid text",
    "22P02": "not valid input for the column's type",
    "22P05": "a character the column cannot store",
    "22030": "JSON duplicate object key",
    "22032": "not valid JSON",
}
_COPY_LINE = re.compile(r"^COPY \S+, line (\d+)(?:, column (\w+))?", re.MULTILINE)


def refusal(error: BaseException, path: Path) -> DataError | None:
    """A server's refusal of a row during COPY as a :class:`DataError`, or None.

    The SQLSTATE (class 22 data exception or 23 integrity violation) gives the kind; the
    error's diagnostics give the place: the COPY context's line (the 1-based data row of
    the file, as every file goes in one COPY), the column and the constraint. The server's
    message text and its DETAIL (``Failing row contains (...)``, i.e. patient data) are
    never used or shown.

    Args:
        error: the error raised during COPY (a driver error or SQLAlchemy's wrapper).
        path: the file being loaded, named in the message.

    Returns:
        The refusal, naming file, row and column; None when ``error`` is no data refusal.
    """
    code = sqlstate(error)
    if code is None or not code.startswith((DATA_EXCEPTION_CLASS, INTEGRITY_VIOLATION_CLASS)):
        return None
    original = getattr(error, "orig", error)
    if not isinstance(original, psycopg.Error):
        return None
    diag = original.diag
    where = _COPY_LINE.search(diag.context or "")
    row = f": row {int(where.group(1)):,}" if where else ""
    column = diag.column_name or (where.group(2) if where and where.group(2) else None)
    constraint = diag.constraint_name
    reason = _REASONS.get(code, f"refused by the database (SQLSTATE {code})")
    named = (f"{column}: " if column else "") + reason
    if constraint:
        named += f" ({constraint})"
    return DataError(
        f"{path.name} refused{row}: {named}",
        hint="fix the file and load it again; nothing was changed",
    )


def _replace(conn: Connection, file: LoadFile, progress: Progress | None) -> int:
    removed = _execute(conn, sql.SQL("DELETE FROM {}").format(_name(file.table))).rowcount
    _copy(conn, _name(file.table), file, progress)
    return int(removed or 0)


def _upsert(conn: Connection, file: LoadFile, progress: Progress | None, *, prune: bool) -> int:
    key = natural_key(file.table)
    columns = file.data.column_names
    missing = [k for k in key if k not in columns]
    if missing:
        raise DataError(
            f"{file.path.name} lacks key column(s) {', '.join(missing)} for upsert",
            hint="include the natural key columns, or use --mode replace",
        )
    staging = sql.Identifier(f"medz1_staging_{file.table.name}")
    # The staging table has the table's columns, defaults, NOT NULL and CHECK constraints,
    # so the COPY refuses a bad row by its number, as a replace does.
    _execute(
        conn,
        sql.SQL(
            "CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY INCLUDING GENERATED) ON COMMIT DROP"
        ).format(staging, _name(file.table)),
    )
    _copy(conn, staging, file, progress)
    updates = [c for c in columns if c not in key]
    assignments = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates
    )
    action = sql.SQL("DO UPDATE SET {}").format(assignments) if updates else sql.SQL("DO NOTHING")
    _execute(
        conn,
        sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) {a}").format(
            t=_name(file.table), c=_columns(columns), s=staging, k=_columns(key), a=action
        ),
    )
    if not prune:
        return 0
    matches = sql.SQL(" AND ").join(sql.SQL("s.{0} = t.{0}").format(sql.Identifier(k)) for k in key)
    removed = _execute(
        conn,
        sql.SQL(
            "DELETE FROM {t} t WHERE t.patient_key IN (SELECT DISTINCT patient_key FROM {s}) "
            "AND NOT EXISTS (SELECT 1 FROM {s} s WHERE {m})"
        ).format(t=_name(file.table), s=staging, m=matches),
    ).rowcount
    return int(removed or 0)


def _staged_patients(conn: Connection, file: LoadFile) -> list[str]:
    """The patients of an upsert's staging table (whose chart documents it changes)."""
    staging = sql.Identifier(f"medz1_staging_{file.table.name}")
    rows = _execute(conn, sql.SQL("SELECT DISTINCT patient_key FROM {}").format(staging))
    return [str(row[0]) for row in rows]


def _analyze(conn: Connection, table: Table) -> None:
    """Refresh planner statistics so the first reads after a load get good plans."""
    _execute(conn, sql.SQL("ANALYZE {}").format(_name(table)))
