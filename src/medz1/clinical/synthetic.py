"""Synthetic clinical data for demos, tests and benchmarks: realistic, deterministic, fast.

:func:`generate` returns one Arrow table per clinical table of schema ``public``, each with
exactly the schema of :func:`medz1.clinical.arrow_types.arrow_schema` of its model, so it can
be written as Parquet (:func:`write_parquet`) and bulk-loaded unchanged. Output depends only
on ``(patients, seed, as_of)``.

Patients are generated in chunks of :data:`CHUNK_PATIENTS`, whole columns at a time with
numpy; :func:`generate_chunks` yields them one by one, so :func:`write_parquet_chunks` can
write a large data set without holding it in memory. Each chunk draws from its own random
stream (derived from the seed and the chunk number) and each table from its own stream
within the chunk, so changing how one table is generated leaves the others as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Table

from medz1.clinical.arrow_types import arrow_schema
from medz1.clinical.synth_allergies import allergies
from medz1.clinical.synth_cohort import Lookups, SourceIds, demographics, make_cohort
from medz1.clinical.synth_encounters import admissions, encounters
from medz1.clinical.synth_flags import flags
from medz1.clinical.synth_inpatient import inpatient
from medz1.clinical.synth_labs import labs
from medz1.clinical.synth_outpatient import outpatient
from medz1.clinical.synth_vitals import vitals
from medz1.errors import UsageError
from medz1.models import metadata

#: The fixed default "now" of generated data, so output never depends on the clock.
DEFAULT_AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
MAX_PATIENTS = 1_000_000
#: Patients per chunk; part of the output's definition (each chunk has its own stream).
CHUNK_PATIENTS = 10_000
PARQUET_COMPRESSION = "zstd"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The generated tables, by table name, in the order they are generated and written.
MODEL_TABLES: dict[str, Table] = {
    name: metadata.tables[f"public.{name}"]
    for name in (
        "patient_demographics",
        "patient_vitals",
        "patient_labs",
        "patient_medications_outpatient",
        "patient_encounters",
        "patient_medications_inpatient",
        "patient_allergies",
        "patient_allergy_reactions",
        "patient_flags",
        "patient_flag_history",
    )
}


@dataclass(frozen=True)
class WrittenTable:
    """One Parquet file written by :func:`write_parquet_chunks`."""

    table: str
    path: Path
    rows: int
    size_bytes: int


def generate(patients: int, *, seed: int, as_of: datetime | None = None) -> dict[str, pa.Table]:
    """Generate ``patients`` synthetic patients with all their clinical rows.

    Args:
        patients: Number of patients, 1 to :data:`MAX_PATIENTS`; ICNs run from ICN100001.
        seed: Seed of the random streams; the same arguments give the same tables.
        as_of: The moment the data is "loaded": every event lies before it (default
            :data:`DEFAULT_AS_OF`). Must be timezone-aware.

    Returns:
        One table per clinical table name (``patient_vitals``, ...), each matching
        ``arrow_schema`` of its model.

    Raises:
        UsageError: ``patients`` is out of range or ``as_of`` is naive.
    """
    chunks = list(generate_chunks(patients, seed=seed, as_of=as_of))
    return {
        name: pa.concat_tables([chunk[name] for chunk in chunks]).combine_chunks()
        for name in MODEL_TABLES
    }


def generate_chunks(
    patients: int, *, seed: int, as_of: datetime | None = None
) -> Iterator[dict[str, pa.Table]]:
    """Generate the same data as :func:`generate`, one chunk of patients at a time.

    The arguments are checked at once, before the first chunk is asked for.

    Args:
        patients: Number of patients, 1 to :data:`MAX_PATIENTS`.
        seed: Seed of the random streams; the same arguments give the same rows.
        as_of: The moment the data is "loaded" (aware); default :data:`DEFAULT_AS_OF`.

    Returns:
        An iterator of chunks, each holding every table for up to
        :data:`CHUNK_PATIENTS` patients.

    Raises:
        UsageError: ``patients`` is out of range or ``as_of`` is naive.
    """
    as_of_us = _as_of_micros(as_of)
    _check_patients(patients)
    return _chunks(patients, seed=seed, as_of_us=as_of_us)


def _chunks(patients: int, *, seed: int, as_of_us: int) -> Iterator[dict[str, pa.Table]]:
    lookups = Lookups.build(_generator(np.random.SeedSequence([seed, 0])))
    ids = SourceIds()
    for number, first in enumerate(range(0, patients, CHUNK_PATIENTS), start=1):
        stream = np.random.SeedSequence([seed, number])
        size = min(CHUNK_PATIENTS, patients - first)
        yield _chunk(stream, first=first, size=size, as_of_us=as_of_us, lookups=lookups, ids=ids)


def _generator(stream: np.random.SeedSequence) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stream))


def _chunk(
    stream: np.random.SeedSequence,
    *,
    first: int,
    size: int,
    as_of_us: int,
    lookups: Lookups,
    ids: SourceIds,
) -> dict[str, pa.Table]:
    """All tables of one chunk of patients, each table drawn from its own stream."""
    rngs = iter([_generator(s) for s in stream.spawn(10)])
    cohort = make_cohort(next(rngs), first=first, n=size, as_of_us=as_of_us, lookups=lookups)
    stays, diagnosis = admissions(next(rngs), cohort, ids)
    allergy, reactions = allergies(next(rngs), cohort, lookups, ids)
    flag, history = flags(next(rngs), cohort, lookups, ids)
    columns = {
        "patient_demographics": demographics(next(rngs), cohort, lookups),
        "patient_vitals": vitals(next(rngs), cohort, lookups, ids),
        "patient_labs": labs(next(rngs), cohort, lookups, ids),
        "patient_medications_outpatient": outpatient(next(rngs), cohort, lookups, ids),
        "patient_encounters": encounters(next(rngs), cohort, lookups, stays, diagnosis),
        "patient_medications_inpatient": inpatient(next(rngs), cohort, lookups, ids, stays),
        "patient_allergies": allergy,
        "patient_allergy_reactions": reactions,
        "patient_flags": flag,
        "patient_flag_history": history,
    }
    return {name: assemble(MODEL_TABLES[name], columns[name]) for name in MODEL_TABLES}


def assemble(table: Table, columns: dict[str, pa.Array]) -> pa.Table:
    """An Arrow table of ``table``'s loadable columns, in order, checked against its schema.

    Args:
        table: the model's table.
        columns: one Arrow array per loadable column, by name.

    Returns:
        The table, with ``arrow_schema`` of the model.

    Raises:
        ValueError: A column is missing, extra, or of the wrong type (a generator bug).
    """
    schema = arrow_schema(table)
    extra = set(columns) - set(schema.names)
    missing = set(schema.names) - set(columns)
    if extra or missing:
        raise ValueError(f"{table.name}: missing columns {sorted(missing)}, extra {sorted(extra)}")
    arrays = [columns[name] for name in schema.names]
    for field, array in zip(schema, arrays, strict=True):
        if array.type != field.type:
            raise ValueError(f"{table.name}.{field.name}: {array.type}, expected {field.type}")
    return pa.Table.from_arrays(arrays, schema=schema)


def write_parquet(tables: dict[str, pa.Table], out_dir: Path | str) -> list[Path]:
    """Write each table as ``<out_dir>/<table_name>.parquet`` (zstd); returns the paths.

    Args:
        tables: tables by name, as :func:`generate` returns them.
        out_dir: the folder; created when missing.

    Returns:
        The paths written, in the order of ``tables``.

    Raises:
        UsageError: ``out_dir`` is a file or cannot be written.
    """
    return [written.path for written in write_parquet_chunks([tables], out_dir)]


def write_parquet_chunks(
    chunks: Iterable[dict[str, pa.Table]], out_dir: Path | str
) -> list[WrittenTable]:
    """Write chunks of tables (e.g. :func:`generate_chunks`) as one Parquet file per table.

    Each file is written as ``<table>.parquet.partial`` and renamed when all chunks are
    written; a failed run removes its partial files and leaves no truncated ``.parquet``.

    Args:
        chunks: tables by name, per chunk; every chunk holds the same tables.
        out_dir: the folder; created when missing.

    Returns:
        Each file written, with its table, rows and size in bytes.

    Raises:
        UsageError: ``out_dir`` is a file or cannot be written.
    """
    directory = _prepare_directory(Path(out_dir))
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[str, int] = {}
    complete = False
    try:
        for chunk in chunks:
            for name, table in chunk.items():
                if name not in writers:
                    writers[name] = pq.ParquetWriter(
                        _partial(directory, name), table.schema, compression=PARQUET_COMPRESSION
                    )
                writers[name].write_table(table)
                rows[name] = rows.get(name, 0) + table.num_rows
        complete = True
    except OSError as exc:
        raise UsageError(
            f"cannot write Parquet files in {directory}: {exc.strerror}",
            hint="choose a writable --out directory with free space",
        ) from exc
    finally:
        for name, writer in writers.items():
            writer.close()
            if not complete:
                _partial(directory, name).unlink(missing_ok=True)
    return [_publish(directory, name, rows[name]) for name in writers]


def _partial(directory: Path, name: str) -> Path:
    """Where a table's Parquet file is written before it is complete."""
    return directory / f"{name}.parquet.partial"


def _publish(directory: Path, name: str, rows: int) -> WrittenTable:
    path = directory / f"{name}.parquet"
    os.replace(_partial(directory, name), path)
    return WrittenTable(table=name, path=path, rows=rows, size_bytes=path.stat().st_size)


def _prepare_directory(directory: Path) -> Path:
    if directory.exists() and not directory.is_dir():
        raise UsageError(
            f"{directory} is a file, not a directory", hint="give --out a directory path"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create {directory}: {exc.strerror}", hint="choose a writable --out directory"
        ) from exc
    return directory


def _check_patients(patients: int) -> None:
    if not 1 <= patients <= MAX_PATIENTS:
        raise UsageError(
            f"number of patients must be between 1 and {MAX_PATIENTS:,}, not {patients:,}",
            hint="pass --patients N with 1 <= N <= 1,000,000",
        )


def _as_of_micros(as_of: datetime | None) -> int:
    moment = DEFAULT_AS_OF if as_of is None else as_of
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(
            f"as_of {moment.isoformat()} has no time zone", hint="pass an aware datetime (UTC)"
        )
    return (moment - _EPOCH) // timedelta(microseconds=1)


def total_rows(tables: dict[str, pa.Table]) -> int:
    """Rows over all tables."""
    return sum(t.num_rows for t in tables.values())
