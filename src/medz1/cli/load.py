"""``medz1 load``: check clinical data files and load them atomically, as medz1_loader."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from medz1.cli.console import err, out, print_json
from medz1.cli.context import policy, state, target
from medz1.clinical.load import LoadFile, Mode, TableLoad, load, prepare
from medz1.errors import UsageError
from medz1.provision.connect import engine_for_role


def _summary(results: list[TableLoad]) -> Table:
    table = Table("table", "rows", "removed", "seconds", "rows/s")
    for r in results:
        table.add_row(
            r.table,
            f"{r.rows:,}",
            f"{r.removed:,}",
            f"{r.seconds:.2f}",
            f"{r.rows_per_second:,.0f}",
        )
    total_rows = sum(r.rows for r in results)
    total_seconds = sum(r.seconds for r in results)
    rate = total_rows / total_seconds if total_seconds else 0.0
    table.add_row(
        "total",
        f"{total_rows:,}",
        f"{sum(r.removed for r in results):,}",
        f"{total_seconds:.2f}",
        f"{rate:,.0f}",
    )
    return table


def _load_with_progress(files: list[LoadFile], mode: Mode, prune: bool) -> list[TableLoad]:
    settings = state.settings()
    engine = engine_for_role(target(settings), "loader", policy(settings).passwords)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            tasks = {
                f.table.name: bar.add_task(f.table.name, total=f.rows, rate="-") for f in files
            }

            def advance(table: str, rows: int) -> None:
                task = tasks[table]
                bar.advance(task, rows)
                speed = bar.tasks[task].speed
                bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

            return load(
                engine,
                files,
                mode=mode,
                prune=prune,
                progress=advance,
            )
    finally:
        engine.dispose()


def load_command(
    path: Path = typer.Argument(..., help="A .parquet or .csv file, or a folder of them."),
    table: str = typer.Option(None, "--table", help="Table of a single file (default: its name)."),
    mode: str = typer.Option("replace", "--mode", help="replace (default) or upsert."),
    prune: bool = typer.Option(
        False, "--prune", help="With upsert: delete rows of the file's patients it lacks."
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Let a file with no rows empty its table."
    ),
    delimiter: str = typer.Option(",", "--delimiter", help="CSV field delimiter."),
    encoding: str = typer.Option("utf8", "--encoding", help="CSV text encoding."),
    null: str = typer.Option(
        "", "--null", help="The unquoted CSV field that means NULL (default: an empty field)."
    ),
    assume_timezone: str = typer.Option(
        None,
        "--assume-timezone",
        help="IANA zone of times written without one (default: refuse them).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Check data files against their tables' contract, then load them in one transaction.

    Files are named after their tables (patient_vitals.parquet). Every file is checked
    first (columns, exact types, NOT NULL, lengths, CHECK constraints, duplicate keys); one
    bad file refuses the whole load and nothing changes. In CSV only an unquoted empty
    field is NULL (or the --null string). Example: medz1 load ./demo-data
    """
    if mode not in ("replace", "upsert"):
        raise UsageError(f"unknown mode {mode!r}", hint="use --mode replace or --mode upsert")
    files = prepare(
        path,
        table=table,
        delimiter=delimiter,
        encoding=encoding,
        null=null,
        assume_timezone=assume_timezone,
        allow_empty=allow_empty,
    )
    results = _load_with_progress(files, "upsert" if mode == "upsert" else "replace", prune)
    if as_json:
        print_json(
            [
                {
                    "table": r.table,
                    "rows": r.rows,
                    "removed": r.removed,
                    "seconds": round(r.seconds, 3),
                }
                for r in results
            ]
        )
    else:
        out.print(_summary(results))
