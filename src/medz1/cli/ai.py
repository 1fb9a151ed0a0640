"""``medz1 ai embed | search | stale | interactions | load-interactions``: the AI features.

Every command but ``load-interactions`` works as the application role (``med_z1_user``),
as the med-z1 viewer would; ``load-interactions`` loads reference data as ``medz1_loader``.
The embedder is ``MEDZ1_AI_EMBEDDER`` (default: the offline hashing embedder).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.ai.embedder import load_embedder
from medz1.ai.embeddings import embed_patients, search
from medz1.ai.interactions import (
    active_medications,
    cached_interactions,
    load_reference,
    prepare_reference,
)
from medz1.ai.summaries import stale_summaries
from medz1.cli.console import err, out, print_json
from medz1.cli.context import policy, state, target
from medz1.clinical.contract import CsvOptions
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.errors import NotFoundError, UsageError
from medz1.provision.connect import engine_for_role

app = typer.Typer(
    help="AI features: chart embeddings and search, stale summaries, drug interactions.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@contextmanager
def _engine(role: str = "app") -> Iterator[Engine]:
    settings = state.settings()
    engine = engine_for_role(target(settings), role, policy(settings).passwords)
    try:
        with translated():
            yield engine
    finally:
        engine.dispose()


def _patient(session: Session, icn: str) -> str:
    key = icn.strip().upper()
    found = session.execute(
        text("SELECT EXISTS (SELECT 1 FROM public.patient_demographics WHERE patient_key = :p)"),
        {"p": key},
    ).scalar_one()
    if not found:
        raise NotFoundError(
            f"no patient with ICN {icn.strip()}",
            hint="find the ICN with `medz1 patients search LASTNAME`",
        )
    return key


@app.command()
def embed(
    patients: list[str] | None = typer.Option(
        None, "--patients", "-p", help="ICNs to embed (repeat the option); default: all."
    ),
) -> None:
    """Embed the chart text of patients (allergies, record flag narratives, encounters,
    lab panels); charts whose text did not change are skipped.

    Each batch of patients is replaced atomically. Example: medz1 ai embed ;
    medz1 ai embed -p ICN100001 -p ICN100002
    """
    embedder = load_embedder(state.settings().ai_embedder)
    keys = [p.strip().upper() for p in patients] if patients else None
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
    )
    with _engine() as engine:
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
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("embed", total=total)
            report = embed_patients(
                engine,
                embedder,
                patient_keys=keys,
                progress=lambda n: bar.advance(task, n),
            )
    out.print(
        f"embedded {report.embedded:,} patient(s) ({report.chunks:,} chunks, model "
        f"{embedder.name}); {report.unchanged:,} unchanged",
        markup=False,
    )


@app.command("search")
def search_command(
    query: str = typer.Argument(..., help="Text to look for, e.g. 'penicillin rash'."),
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's chart."),
    station: str | None = typer.Option(None, "--station", help="Only this station (sta3n)."),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="How many chunks."),
    as_json: bool = _JSON,
) -> None:
    """Print the chart chunks nearest to TEXT (cosine distance), nearest first.

    Example: medz1 ai search "shortness of breath" --patient ICN100001 --k 5
    """
    embedder = load_embedder(state.settings().ai_embedder)
    (vector,) = embedder.embed([query])
    if not vector.any():
        raise UsageError(
            "the search text holds no word to compare", hint="give a word or two to look for"
        )
    with _engine() as engine, unit_of_work(engine) as session:
        key = _patient(session, patient) if patient is not None else None
        hits = search(session, vector, model=embedder.name, k=k, patient_key=key, station=station)
    if as_json:
        print_json([dataclasses.asdict(h) for h in hits])
        return
    if not hits:
        out.print("no chunk found (run `medz1 ai embed` first?)", markup=False)
        return
    table = Table("distance", "ICN", "source", "station", "text")
    for h in hits:
        table.add_row(
            f"{h.distance:.3f}",
            h.patient_key,
            f"{h.source_table}:{h.source_id}#{h.chunk_number}",
            h.station or "",
            h.chunk_text,
        )
    out.print(table)


@app.command()
def stale(as_json: bool = _JSON) -> None:
    """List chart summaries that no longer match their chart (changed since, or expired).

    Example: medz1 ai stale
    """
    with _engine() as engine, unit_of_work(engine) as session:
        found = stale_summaries(session)
    if as_json:
        print_json([dataclasses.asdict(s) for s in found])
        return
    if not found:
        out.print("no stale summary", markup=False)
        return
    table = Table("ICN", "kind", "model", "generated (UTC)", "why")
    for s in found:
        table.add_row(s.patient_key, s.kind, s.model, f"{s.generated_at:%Y-%m-%d %H:%M}", s.reason)
    out.print(table)


@app.command()
def interactions(
    icn: str = typer.Argument(..., help="The patient's ICN, e.g. ICN100001."),
    as_json: bool = _JSON,
) -> None:
    """Print the interacting pairs of a patient's active medications.

    Example: medz1 ai interactions ICN100001
    """
    with _engine() as engine, unit_of_work(engine) as session:
        key = _patient(session, icn)
        medications = active_medications(session, patient_key=key)
        found, _cached = cached_interactions(session, medications)
    if as_json:
        print_json(
            {"medications": medications, "interactions": [dataclasses.asdict(i) for i in found]}
        )
        return
    out.print(f"{len(medications)} active medication(s): {', '.join(medications) or '-'}")
    if not found:
        out.print("no known interaction among them", markup=False)
        return
    table = Table("drug", "drug", "severity", "description")
    for i in found:
        table.add_row(i.drug_a, i.drug_b, i.severity, i.description or "")
    out.print(table)


@app.command("load-interactions")
def load_interactions(
    path: Path = typer.Argument(
        ..., help="Parquet or CSV file: drug_a, drug_b[, severity, description, source]."
    ),
    delimiter: str = typer.Option(",", "--delimiter", help="CSV field delimiter."),
    encoding: str = typer.Option("utf8", "--encoding", help="CSV text encoding."),
) -> None:
    """Replace the drug-interaction reference data (checked first; all or nothing).

    Pairs may be given in either order and any case; a pair given twice is refused.
    Cached interaction results are invalidated. Example: medz1 ai load-interactions ddi.csv
    """
    file = prepare_reference(path, csv=CsvOptions(delimiter=delimiter, encoding=encoding))
    with _engine("loader") as engine:
        result = load_reference(engine, file)
    out.print(f"{result.rows:,} interaction pair(s) loaded from {path.name}", markup=False)
