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
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same data."),
    out_dir: Path = typer.Option(
        Path("demo-data"), "--out", help="Directory for the Parquet files (created if missing)."
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

    c = cli_context(ctx)
    if not 1 <= patients <= MAX_PATIENTS:
        raise UsageError(
            f"--patients must be between 1 and {MAX_PATIENTS:,}, not {patients:,}",
            hint="pass --patients N with 1 <= N <= 1,000,000",
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"--out {out_dir} is a file, not a directory", hint="give --out a directory path"
        )
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
