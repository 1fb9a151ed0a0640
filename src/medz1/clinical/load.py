"""Load clinical data files into their tables: checked first, then atomic and fast.

Every file is read and checked against its table's contract before the database is
touched (:mod:`medz1.clinical.contract`). All files of a load then go in one transaction:

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

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg import sql
from sqlalchemy import Engine, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from medz1.clinical.contract import clinical_table, conform, file_format, natural_key, read_file
from medz1.db.errors import translated
from medz1.errors import DataError, NotFoundError, UsageError

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
    ``<table>.parquet`` / ``<table>.csv`` in a folder."""
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
    allow_empty: bool = False,
) -> list[LoadFile]:
    """Read and check every file of a load; raise before anything touches the database."""
    prepared = []
    for file, model in discover(path, table=table):
        data = read_file(file, model, delimiter=delimiter, encoding=encoding)
        prepared.append(LoadFile(file, model, conform(data, model, file, allow_empty=allow_empty)))
    return prepared


def load(
    engine: Engine,
    files: Iterable[LoadFile],
    *,
    mode: Mode = "replace",
    prune: bool = False,
    progress: Progress | None = None,
) -> list[TableLoad]:
    """Load checked files in ONE transaction: all tables change, or none does."""
    if prune and mode != "upsert":
        raise UsageError("--prune goes with --mode upsert", hint="add --mode upsert")
    results = []
    with translated(), engine.begin() as conn:
        for file in files:
            started = time.perf_counter()
            if mode == "replace":
                removed = _replace(conn, file, progress)
            else:
                removed = _upsert(conn, file, progress, prune=prune)
            _analyze(conn, file.table)
            results.append(
                TableLoad(file.table.name, file.rows, removed, time.perf_counter() - started)
            )
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
    _execute(
        conn,
        sql.SQL(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
        ).format(staging, _columns(columns), _name(file.table)),
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


def _analyze(conn: Connection, table: Table) -> None:
    """Refresh planner statistics so the first reads after a load get good plans."""
    _execute(conn, sql.SQL("ANALYZE {}").format(_name(table)))
