"""Chart embeddings: atomic replacement, refusals that write nothing, filtered search."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.ai.chart_text import Chunk
from medz1.ai.embedder import HashingEmbedder
from medz1.ai.embeddings import embed_patients, replace_embeddings, search
from medz1.clinical.load import LoadFile, load
from medz1.db.target import Target
from medz1.errors import DataError
from medz1.ops.demo import demo_files
from medz1.provision.credentials import RolePlan
from tests.db.ai_support import (
    add_patients,
    as_station,
    chunks,
    embedding_rows,
    load_patients,
    role_engine,
    unit_vectors,
)

pytestmark = pytest.mark.db
MODEL = "test-model"


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    """The application role: reads embeddings as a station (scoping on)."""
    with role_engine(db_target, role_plan, "app") as engine:
        yield engine


@pytest.fixture
def writer(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    """The loader: the embedding job's role, the one that writes embeddings."""
    with role_engine(db_target, role_plan, "loader") as engine:
        yield engine


@pytest.fixture
def patients(db_target: Target, role_plan: RolePlan) -> None:
    """P1 at station 508 and P2 at 640, so the application role can see them."""
    add_patients(db_target, role_plan, {"P1": "508", "P2": "640"})


def _replace(writer: Engine, keys: list[str], found: list[Chunk], vectors: object) -> None:
    with writer.begin() as conn:
        replace_embeddings(
            conn,
            model=MODEL,
            patient_keys=keys,
            chunks=found,
            vectors=vectors,  # type: ignore[arg-type]
        )


def test_replacing_a_patient_drops_its_chunks_that_are_gone_and_keeps_others(
    writer: Engine, engine: Engine
) -> None:
    _replace(writer, ["P1", "P2"], chunks("P1", 3) + chunks("P2", 2), unit_vectors(1, 5))
    _replace(writer, ["P1"], chunks("P1", 1), unit_vectors(2, 1))
    assert [(r[0], r[2]) for r in embedding_rows(engine)] == [("P1", "0"), ("P2", "0"), ("P2", "1")]


def _bad_vectors() -> dict[str, np.ndarray]:
    good = unit_vectors(3, 2)
    nan, inf, zero = good.copy(), good.copy(), good.copy()
    nan[1, 5] = np.nan
    inf[0, 0] = np.inf
    zero[1] = 0
    return {
        "wrong dimension": unit_vectors(3, 2)[:, :383],
        "too many dimensions": np.hstack([good, good[:, :1]]),
        "nan": nan,
        "infinity": inf,
        "beyond float32": good.astype(np.float64) * 1e300,
        "zero vector": zero,
        "one vector short": good[:1],
    }


@pytest.mark.parametrize("kind", sorted(_bad_vectors()))
def test_refused_vectors_leave_the_stored_chunks_unchanged(
    writer: Engine, engine: Engine, kind: str
) -> None:
    _replace(writer, ["P1"], chunks("P1", 2), unit_vectors(1, 2))
    before = embedding_rows(engine)
    with pytest.raises(DataError):
        _replace(writer, ["P1"], chunks("P1", 2, station="640"), _bad_vectors()[kind])
    assert embedding_rows(engine) == before


@pytest.mark.parametrize(
    "bad",
    [
        Chunk("P1", "test", "0", 0, "nul \x00 inside", None),
        Chunk("P1", "test", "0", 0, "   ", None),
        Chunk("P1", "test", "0", -1, "negative chunk number", None),
        Chunk("P9", "test", "0", 0, "patient not listed", None),
        Chunk("P1", "test", "x" * 101, 0, "source id too long", None),
        Chunk("P1", "", "0", 0, "no source table", None),
        Chunk("P1", "test", "1", 0, "repeats the chunk before", None),
        Chunk("P1", "test", "0", 0, "station is no station number", "50"),
        Chunk("P1", "test", "0", 0, "station with a quote", "508'x"),
    ],
)
def test_refused_chunks_leave_the_stored_chunks_unchanged(
    writer: Engine, engine: Engine, bad: Chunk
) -> None:
    _replace(writer, ["P1"], chunks("P1", 2), unit_vectors(1, 2))
    before = embedding_rows(engine)
    with pytest.raises(DataError):
        _replace(writer, ["P1"], [*chunks("P1", 2)[1:], bad], unit_vectors(2, 2))
    assert embedding_rows(engine) == before


@pytest.mark.usefixtures("patients")
def test_search_within_a_patient_returns_only_that_patients_chunks(
    writer: Engine, app: Engine
) -> None:
    data = unit_vectors(4, 60)
    found = chunks("P1", 30, station="508") + chunks("P2", 30, station="508")
    _replace(writer, ["P1", "P2"], found, data)
    with as_station(app, "640") as session:
        hits = search(session, data[0], model=MODEL, k=10, patient_key="P2")
    assert len(hits) == 10
    assert {h.patient_key for h in hits} == {"P2"}
    distances = [h.distance for h in hits]
    assert distances == sorted(distances)


@pytest.mark.usefixtures("patients")
def test_search_within_a_station_finds_k_chunks_past_nearer_ones_of_other_stations(
    writer: Engine, engine: Engine
) -> None:
    # 300 chunks of station 508 sit right around the query, 12 of station 640 far away: an
    # index scan that filtered only its first candidates would find none of 640.
    rng = np.random.default_rng(5)
    query = unit_vectors(6, 1)[0]
    near = query + rng.normal(0, 0.02, (300, 384)).astype(np.float32)
    far = unit_vectors(7, 12)
    data = np.vstack([near, far])
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    found = chunks("P1", 300, station="508") + [
        Chunk("P2", "test", str(i), 0, f"far {i}", "640") for i in range(12)
    ]
    _replace(writer, ["P1", "P2"], found, data)
    # As the administrator (no row security): only the station filter and the index decide.
    with Session(engine) as session:
        # Make the planner take the HNSW index (a full scan and sort would be exact).
        session.execute(text("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off"))
        hits = search(session, query, model=MODEL, k=10, station="640")
    assert len(hits) == 10
    assert {h.station for h in hits} == {"640"}


def test_search_refuses_a_query_vector_of_the_wrong_dimension(app: Engine) -> None:
    with as_station(app, "508") as session, pytest.raises(DataError):
        search(session, np.ones(383, dtype=np.float32), model=MODEL)


def test_embedding_again_skips_unchanged_charts_and_redoes_a_changed_one(
    db_target: Target, role_plan: RolePlan, writer: Engine
) -> None:
    load_patients(db_target, role_plan, 5)
    embedder = HashingEmbedder()
    first = embed_patients(writer, embedder)
    assert (first.embedded, first.unchanged) == (5, 0)
    encounters = next(f for f in demo_files(5) if f.table.name == "patient_encounters")
    one = encounters.data.slice(0, 1)  # one encounter of one patient, its text changed
    column = one.schema.get_field_index("discharge_diagnosis_text")
    changed = one.set_column(column, "discharge_diagnosis_text", [["pneumonia, changed"]])
    with role_engine(db_target, role_plan, "loader") as loader:
        load(loader, [LoadFile(encounters.path, encounters.table, changed)], mode="upsert")
    second = embed_patients(writer, embedder)
    assert (second.embedded, second.unchanged) == (1, 4)
