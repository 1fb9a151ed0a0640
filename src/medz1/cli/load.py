"""``medz1 load``: check clinical data files and load them atomically, as medz1_loader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context
from medz1.errors import UsageError

if TYPE_CHECKING:
    from medz1.clinical.load import LoadFile, Mode, TableLoad


def _summary(c: CliContext, results: list[TableLoad]) -> None:
    rows = [
        [r.table, f"{r.rows:,}", f"{r.removed:,}", f"{r.seconds:.2f}", f"{r.rows_per_second:,.0f}"]
        for r in results
    ]
    total_rows = sum(r.rows for r in results)
    total_seconds = sum(r.seconds for r in results)
    rate = total_rows / total_seconds if total_seconds else 0.0
    rows.append(
        [
            "total",
            f"{total_rows:,}",
            f"{sum(r.removed for r in results):,}",
            f"{total_seconds:.2f}",
            f"{rate:,.0f}",
        ]
    )
    c.table(
        (
            Col("table", key=True),
            *(Col(name, justify="right") for name in ("rows", "removed", "seconds", "rows/s")),
        ),
        rows,
    )


def _load_with_progress(
    c: CliContext, files: list[LoadFile], mode: Mode, prune: bool
) -> list[TableLoad]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from medz1.clinical.load import load

    engine = c.role_engine("loader")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=c.err, transient=True) as bar:
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
    ctx: typer.Context,
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
    as_json: bool = JSON_OPTION,
) -> None:
    """Check data files against their tables' contract, then load them in one transaction.

    Files are named after their tables (patient_vitals.parquet). Every file is checked
    first (columns, exact types, NOT NULL, lengths, CHECK constraints, duplicate keys); one
    bad file refuses the whole load and nothing changes. In CSV only an unquoted empty
    field is NULL (or the --null string). Example: medz1 load ./demo-data
    """
    from medz1.clinical.load import prepare

    c = cli_context(ctx)
    if mode not in ("replace", "upsert"):
        raise UsageError(f"unknown mode {mode!r}", hint="use --mode replace or --mode upsert")
    files = prepare(
        path,
        table=table,
        delimiter=delimiter,
        encoding=encoding,
        null=null,
        assume_timezone=assume_timezone,
        allow_empty=allow_empty or mode == "upsert",  # an empty upsert changes nothing
    )
    results = _load_with_progress(c, files, "upsert" if mode == "upsert" else "replace", prune)
    if as_json:
        c.print_json(
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
        _summary(c, results)
