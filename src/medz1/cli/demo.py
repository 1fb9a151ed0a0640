"""``medz1 demo generate``: synthetic clinical data as Parquet files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context, human_size
from medz1.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from medz1.clinical.synthetic import WrittenTable

#: The largest --seed (numpy's seed sequences take any non-negative integer; this bound
#: keeps it a signed 64-bit value that JSON and every tool reads back as it was).
MAX_SEED = 2**63 - 1

app = typer.Typer(help="Synthetic demo data (no database needed).", no_args_is_help=True)


@app.callback()
def demo() -> None:
    """Synthetic demo data (no database needed)."""


@app.command()
def generate(
    ctx: typer.Context,
    patients: int = typer.Option(
        100, "--patients", "-n", help="Number of patients (1 to 1,000,000)."
    ),
    seed: int = typer.Option(
        1,
        "--seed",
        min=0,
        max=MAX_SEED,
        help="Random seed (0 to 2**63-1); the same seed gives the same data.",
    ),
    out: str = typer.Option(
        "demo-data", "--out", help="Directory for the Parquet files (created if missing)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace Parquet files already in --out (never a link)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate synthetic patients and write one Parquet file per clinical table.

    Patients get VA-style ICNs (ICN100001, ...), real VA stations, vitals, labs, outpatient
    and inpatient medications, admissions, allergies and record flags, all dated before
    2026-01-01 UTC. The files match the tables' Arrow schemas, ready for bulk loading.

    Example: medz1 demo generate --patients 1000 --seed 7 --out ./demo-data
    """
    from medz1.clinical.synthetic import MAX_PATIENTS, generate_chunks, write_parquet_chunks
    from medz1.ops.paths import given_path, refuse_link

    c = cli_context(ctx)
    if not 1 <= patients <= MAX_PATIENTS:
        raise UsageError(
            f"--patients must be between 1 and {MAX_PATIENTS:,}, not {patients:,}",
            hint="pass --patients N with 1 <= N <= 1,000,000",
        )
    out_dir = given_path(out, option="--out")
    refuse_link(out_dir, option="--out")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"--out {out_dir} is a file, not a directory", hint="give --out a directory path"
        )
    _check_files(out_dir, force=force)
    started = time.perf_counter()
    chunks = generate_chunks(patients, seed=seed)
    written = write_parquet_chunks(_with_progress(c, chunks, patients), out_dir)
    elapsed = time.perf_counter() - started
    rows = sum(w.rows for w in written)
    if as_json:
        c.print_json(
            {
                "out": str(out_dir),
                "patients": patients,
                "seed": seed,
                "seconds": round(elapsed, 3),
                "tables": [
                    {"table": w.table, "rows": w.rows, "size": w.size_bytes} for w in written
                ],
            }
        )
        return
    _summary(c, written)
    c.note(
        f"{rows:,} rows for {patients:,} patients in {elapsed:.1f} s "
        f"({rows / max(elapsed, 1e-9):,.0f} rows/s), written to {out_dir}"
    )


def _check_files(out_dir: Path, *, force: bool) -> None:
    """Refuse to write over files in ``out_dir`` (any, with ``force``: links and folders).

    Raises:
        UsageError: a ``<table>.parquet`` (or its ``.partial``) exists and ``force`` is
            False, or one of them is a symbolic link or not a regular file.
    """
    from medz1.clinical.synthetic import MODEL_TABLES

    for name in MODEL_TABLES:
        for path in (out_dir / f"{name}.parquet", out_dir / f"{name}.parquet.partial"):
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise UsageError(
                    f"{path} is a symbolic link or not a regular file",
                    hint="give --out a new or empty directory",
                )
            if path.exists() and not force:
                raise UsageError(
                    f"{path} already exists",
                    hint="give --out a new or empty directory, or add --force to replace "
                    "its Parquet files",
                )
            if path.exists() and path.name.endswith(".partial"):
                path.unlink()


def _with_progress(
    c: CliContext, chunks: Iterator[dict[str, pa.Table]], patients: int
) -> Iterator[dict[str, pa.Table]]:
    """Pass the chunks through, showing a progress bar on stderr for large runs."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from medz1.clinical.synthetic import CHUNK_PATIENTS

    if patients <= CHUNK_PATIENTS:
        yield from chunks
        return
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("patients"))
    with Progress(*columns, console=c.err, transient=True) as progress:
        task = progress.add_task("generate", total=patients)
        for chunk in chunks:
            yield chunk
            progress.advance(task, chunk["patient_demographics"].num_rows)


def _summary(c: CliContext, written: list[WrittenTable]) -> None:
    """The files written: table, rows, size, and a total line."""
    rows = [[w.table, f"{w.rows:,}", human_size(w.size_bytes)] for w in written]
    rows.append(
        [
            "total",
            f"{sum(w.rows for w in written):,}",
            human_size(sum(w.size_bytes for w in written)),
        ]
    )
    c.table(
        (Col("table", key=True), Col("rows", justify="right"), Col("file size", justify="right")),
        rows,
    )
