"""``medz1 ai embed | search | stale | interactions | load-interactions``: the AI features.

``search``, ``stale`` and ``interactions`` work as the application role (``med_z1_user``),
as the med-z1 viewer would: with station scoping on (``MEDZ1_STATION_SCOPING``) they see
only the patients of ``--station``. ``embed`` and ``load-interactions`` are batch jobs of
``medz1_loader``: the embedding job reads every station's charts.
The embedder is ``MEDZ1_AI_EMBEDDER`` (default: the offline hashing embedder).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context, station_option
from medz1.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

app = typer.Typer(
    help="AI features: chart embeddings and search, stale summaries, drug interactions.",
    no_args_is_help=True,
)

_JSON = JSON_OPTION
_HIT_COLUMNS = (
    Col("distance"),
    Col("ICN", key=True),
    Col("source", key=True),
    Col("station", drop=2),
    Col("text", drop=1),
)
_STALE_COLUMNS = (
    Col("ICN", key=True),
    Col("kind", key=True),
    Col("model", drop=2),
    Col("generated (UTC)", drop=1),
    Col("why"),
)
_INTERACTION_COLUMNS = (
    Col("drug", key=True),
    Col("drug", key=True),
    Col("severity"),
    Col("description", drop=1),
)


@contextmanager
def _engine(c: CliContext, role: str = "app") -> Iterator[Engine]:
    from medz1.db.errors import translated

    engine = c.role_engine(role)
    try:
        with translated():
            yield engine
    finally:
        engine.dispose()


def _patient(session: Session, icn: str) -> str:
    from sqlalchemy import text

    key = icn.strip().upper()
    found = session.execute(
        text("SELECT EXISTS (SELECT 1 FROM public.patient_demographics WHERE patient_key = :p)"),
        {"p": key},
    ).scalar_one()
    if not found:
        raise NotFoundError(
            f"no patient with ICN {icn.strip()}",
            hint="find the ICN with `medz1 patients search LASTNAME`; with station scoping "
            "on, give the patient's station with --station",
        )
    return key


_STATION = station_option(
    "Read as this station (sta3n, e.g. 508): with station scoping on, only its patients are seen."
)


@contextmanager
def _scoped(c: CliContext, station: str | None) -> Iterator[Session]:
    """A unit of work as the application role, read as ``station`` (fail closed without)."""
    from medz1.dal.session import Scope, check_station, set_scope
    from medz1.db.engine import unit_of_work

    if station is not None:
        check_station(station)
    with _engine(c) as engine, unit_of_work(engine) as session:
        set_scope(session, Scope(station))
        yield session


@app.command()
def embed(
    ctx: typer.Context,
    patients: list[str] | None = typer.Option(
        None, "--patients", "-p", help="ICNs to embed (repeat the option); default: all."
    ),
    as_json: bool = _JSON,
) -> None:
    """Embed the chart text of patients (allergies, record flag narratives, encounters,
    lab panels); charts whose text did not change are skipped.

    Each batch of patients is replaced atomically. Example: medz1 ai embed ;
    medz1 ai embed -p ICN100001 -p ICN100002
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from medz1.ai.embedder import load_embedder
    from medz1.ai.embeddings import embed_patients

    c = cli_context(ctx)
    embedder = load_embedder(c.settings().ai_embedder)
    keys = [p.strip().upper() for p in patients] if patients else None
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
    )
    with _engine(c, "loader") as engine:
        with Session(engine) as session:
            total = session.execute(
                text(
                    "SELECT count(*) FROM public.patient_demographics "
                    "WHERE CAST(:keys AS text[]) IS NULL OR patient_key = ANY(:keys)"
                ),
                {"keys": keys},
            ).scalar_one()
        if keys and total < len(set(keys)):
            raise NotFoundError(
                f"{len(set(keys)) - total} of the ICNs given are no patient",
                hint="find ICNs with `medz1 patients search LASTNAME`; nothing was embedded",
            )
        with Progress(*columns, console=c.err, transient=True) as bar:
            task = bar.add_task("embed", total=total)
            report = embed_patients(
                engine,
                embedder,
                patient_keys=keys,
                progress=lambda n: bar.advance(task, n),
            )
    if as_json:
        c.print_json(
            {
                "embedded": report.embedded,
                "chunks": report.chunks,
                "unchanged": report.unchanged,
                "model": embedder.name,
            }
        )
        return
    c.print(
        f"embedded {report.embedded:,} patient(s) ({report.chunks:,} chunks, model "
        f"{embedder.name}); {report.unchanged:,} unchanged"
    )


@app.command("search")
def search_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Text to look for, e.g. 'penicillin rash'."),
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's chart."),
    station: str | None = station_option(
        "Read as this station (sta3n): with station scoping on, only its patients' "
        "chunks are searched, through the station's index."
    ),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="How many chunks."),
    as_json: bool = _JSON,
) -> None:
    """Print the chart chunks nearest to TEXT (cosine distance), nearest first.

    Example: medz1 ai search "shortness of breath" --station 508 --patient ICN100001 --k 5
    """
    from medz1.ai.embedder import load_embedder
    from medz1.ai.embeddings import search

    c = cli_context(ctx)
    embedder = load_embedder(c.settings().ai_embedder)
    (vector,) = embedder.embed([query])
    if not vector.any():
        raise UsageError(
            "the search text holds no word to compare", hint="give a word or two to look for"
        )
    with _scoped(c, station) as session:
        key = _patient(session, patient) if patient is not None else None
        hits = search(
            session,
            vector,
            model=embedder.name,
            k=k,
            patient_key=key,
            station=station if key is None else None,
        )
    if as_json:
        c.print_json([dataclasses.asdict(h) for h in hits])
        return
    if not hits:
        c.print("no chunk found (run `medz1 ai embed` first?)")
        return
    c.table(
        _HIT_COLUMNS,
        [
            [
                f"{h.distance:.3f}",
                h.patient_key,
                f"{h.source_table}:{h.source_id}#{h.chunk_number}",
                h.station or "",
                h.chunk_text,
            ]
            for h in hits
        ],
    )


@app.command()
def stale(ctx: typer.Context, station: str | None = _STATION, as_json: bool = _JSON) -> None:
    """List chart summaries that no longer match their chart (changed since, or expired).

    Example: medz1 ai stale --station 508
    """
    from medz1.ai.summaries import stale_summaries

    c = cli_context(ctx)
    with _scoped(c, station) as session:
        found = stale_summaries(session)
    if as_json:
        c.print_json([dataclasses.asdict(s) for s in found])
        return
    if not found:
        c.print("no stale summary")
        return
    c.table(
        _STALE_COLUMNS,
        [
            [s.patient_key, s.kind, s.model, f"{s.generated_at:%Y-%m-%d %H:%M}", s.reason]
            for s in found
        ],
    )


@app.command()
def interactions(
    ctx: typer.Context,
    icn: str = typer.Argument(..., help="The patient's ICN, e.g. ICN100001."),
    station: str | None = _STATION,
    as_json: bool = _JSON,
) -> None:
    """Print the interacting pairs of a patient's active medications.

    Example: medz1 ai interactions ICN100001 --station 508
    """
    from medz1.ai.interactions import active_medications, cached_interactions

    c = cli_context(ctx)
    with _scoped(c, station) as session:
        key = _patient(session, icn)
        medications = active_medications(session, patient_key=key)
        found, _cached = cached_interactions(session, medications)
    if as_json:
        c.print_json(
            {"medications": medications, "interactions": [dataclasses.asdict(i) for i in found]}
        )
        return
    c.print(f"{len(medications)} active medication(s): {', '.join(medications) or '-'}")
    if not found:
        c.print("no known interaction among them")
        return
    c.table(
        _INTERACTION_COLUMNS,
        [[i.drug_a, i.drug_b, i.severity, i.description or ""] for i in found],
    )


@app.command("load-interactions")
def load_interactions(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., help="Parquet or CSV file: drug_a, drug_b[, severity, description, source]."
    ),
    delimiter: str = typer.Option(",", "--delimiter", help="CSV field delimiter."),
    encoding: str = typer.Option("utf8", "--encoding", help="CSV text encoding."),
    as_json: bool = _JSON,
) -> None:
    """Replace the drug-interaction reference data (checked first; all or nothing).

    Pairs may be given in either order and any case; a pair given twice is refused.
    Cached interaction results are invalidated. Example: medz1 ai load-interactions ddi.csv
    """
    from medz1.ai.interactions import load_reference, prepare_reference
    from medz1.clinical.contract import CsvOptions

    c = cli_context(ctx)
    file = prepare_reference(path, csv=CsvOptions(delimiter=delimiter, encoding=encoding))
    with _engine(c, "loader") as engine:
        result = load_reference(engine, file)
    if as_json:
        c.print_json({"rows": result.rows, "file": str(path)})
        return
    c.print(f"{result.rows:,} interaction pair(s) loaded from {path.name}")
