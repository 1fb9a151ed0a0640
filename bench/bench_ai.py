"""AI features: HNSW search latency and recall@10 against exact search, with and without
filters; bulk embedding writes; drug-interaction lookup.

Run: ``python -m bench.bench_ai [--vectors 200000] [--queries 100] [--pairs 200000]
[--parts search interactions]``

A private bundled server gets a migrated medz1 database (``bench/_server.py``). Vectors of
dimension 384 are drawn around 2,000 random centres (chart embeddings cluster by topic;
uniform random vectors would be an unrealistically hard case) and spread over patients of
50 chunks each and 20 stations. They are written with
:func:`medz1.ai.embeddings.replace_embeddings` as ``med_z1_user`` (binary COPY into a
staging table, then replace per patient), with the HNSW index dropped during the bulk
write and built afterwards (``maintenance_work_mem`` 1 GB), as one would for a first
embedding of a large population. Queries are new points of the same distribution, run
through :func:`medz1.ai.embeddings.search` in one read transaction each.

Exact search is the same SQL with index scans turned off (sequential scan and sort), on
the same vectors; recall@10 is the share of the exact top 10 that the index returns.

Printed: write rate; per setting (``hnsw.ef_search``) p50/p99 latency and recall@10 for no
filter, a station filter (iterative index scan) and a patient filter (the exact per-patient
search medz1 uses, and the iterative HNSW scan for comparison); speed-up against exact
search. Then p50/p99 of :func:`medz1.ai.interactions.interactions_for` for a 20-drug list
against ``--pairs`` reference pairs loaded with :func:`medz1.ai.interactions.load_reference`.
Goals: recall@10 >= 0.95 at >= 10x the speed of exact search; interaction lookup p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench._server import bench_database
from medz1.ai.chart_text import Chunk
from medz1.ai.embeddings import replace_embeddings, search, vector_literal
from medz1.ai.interactions import interactions_for, load_reference, prepared_table
from medz1.db.engine import make_engine
from medz1.provision.connect import engine_for_role

DIM = 384
CHUNKS_PER_PATIENT = 50
STATIONS = 20
MODEL = "bench-clustered-384"


def vectors(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """``n`` normalised vectors near random centres."""
    picked = centres[rng.integers(0, len(centres), n)]
    # Noise of norm about 0.35 around a centre of norm 1.
    points = picked + rng.normal(0, 0.35 / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def write(app: Engine, data: np.ndarray, batch_patients: int = 400) -> float:
    """Write every vector through replace_embeddings; return rows per second."""
    patients = len(data) // CHUNKS_PER_PATIENT
    started = time.perf_counter()
    for first in range(0, patients, batch_patients):
        keys = [f"P{p:07d}" for p in range(first, min(first + batch_patients, patients))]
        chunks = [
            Chunk(key, "bench", str(j), 0, f"chunk {j} of {key}", f"{600 + p % STATIONS}")
            for p, key in enumerate(keys, start=first)
            for j in range(CHUNKS_PER_PATIENT)
        ]
        rows = data[first * CHUNKS_PER_PATIENT : (first + len(keys)) * CHUNKS_PER_PATIENT]
        with app.begin() as conn:
            replace_embeddings(conn, model=MODEL, patient_keys=keys, chunks=chunks, vectors=rows)
    return len(data) / (time.perf_counter() - started)


def build_index(admin: Engine) -> float:
    """Build the HNSW index after the bulk write; return seconds."""
    started = time.perf_counter()
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        conn.execute(
            text(
                "CREATE INDEX ix_patient_embeddings_embedding_hnsw ON ai.patient_embeddings "
                "USING hnsw (embedding vector_cosine_ops)"
            )
        )
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE ai.patient_embeddings"))
    return time.perf_counter() - started


Ids = list[tuple[str, str]]


def exact(session: Session, q: np.ndarray, where: str, params: dict[str, object]) -> Ids:
    """Top 10 by a sequential scan and sort (no index)."""
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    rows = session.execute(
        text(
            "SELECT patient_key, source_id FROM ai.patient_embeddings "
            f"WHERE model = :model {where} ORDER BY embedding <=> CAST(:q AS vector) LIMIT 10"
        ),
        {"q": vector_literal(q), "model": MODEL, **params},
    ).all()
    return [(str(a), str(b)) for a, b in rows]


def hnsw_filtered(session: Session, q: np.ndarray, column: str, value: str, ef: int) -> Ids:
    """A filter through the HNSW index with an iterative scan (the alternative measured)."""
    session.execute(
        text(
            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
            "set_config('hnsw.ef_search', :ef, true)"
        ),
        {"ef": str(ef)},
    )
    rows = session.execute(
        text(
            "SELECT patient_key, source_id FROM ai.patient_embeddings WHERE model = :model "
            f"AND {column} = :v ORDER BY embedding <=> CAST(:q AS vector) LIMIT 10"
        ),
        {"q": vector_literal(q), "model": MODEL, "v": value},
    ).all()
    return [(str(a), str(b)) for a, b in rows]


def timed(app: Engine, run: Callable[[Session], Ids]) -> tuple[float, Ids]:
    with Session(app) as session:
        started = time.perf_counter()
        found = run(session)
        elapsed = time.perf_counter() - started
        session.commit()
    return elapsed, found


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(name: str, times: list[float], recall: list[float], exact_p50: float | None) -> None:
    speed = f"{exact_p50 / (statistics.median(times) * 1000):7.1f}x" if exact_p50 else "       -"
    print(
        f"  {name:<34} p50 {p(times, 0.5):8.2f} ms  p99 {p(times, 0.99):8.2f} ms  "
        f"recall@10 {statistics.mean(recall):.3f}  vs exact {speed}"
    )


def overlap(a: Ids, b: Ids) -> float:
    return len(set(a) & set(b)) / max(len(b), 1)


def bench_search(app: Engine, queries: np.ndarray, patients: int, ef_values: list[int]) -> None:
    rng = random.Random(7)
    picks = [
        (f"P{rng.randrange(patients):07d}", f"{600 + rng.randrange(STATIONS)}") for _ in queries
    ]
    filters: dict[str, Callable[[int], tuple[str, dict[str, object]]]] = {
        "none": lambda i: ("", {}),
        "station": lambda i: ("AND station = :s", {"s": picks[i][1]}),
        "patient": lambda i: ("AND patient_key = :pk", {"pk": picks[i][0]}),
    }
    truth: dict[str, list[Ids]] = {}
    exact_p50: dict[str, float] = {}
    for name, make in filters.items():
        times, found = [], []
        for i, q in enumerate(queries):
            where, params = make(i)
            elapsed, ids = timed(app, lambda s, q=q, w=where, pr=params: exact(s, q, w, pr))
            times.append(elapsed)
            found.append(ids)
        truth[name] = found
        exact_p50[name] = statistics.median(times) * 1000
        report(f"exact, filter {name}", times, [1.0] * len(times), None)
    for ef in ef_values:
        print(f"hnsw.ef_search = {ef}")
        times, recall = [], []
        for i, q in enumerate(queries):
            elapsed, ids = timed(
                app,
                lambda s, q=q, ef=ef: [
                    (h.patient_key, h.source_id)
                    for h in search(s, q, model=MODEL, k=10, ef_search=ef)
                ],
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth["none"][i]))
        report("search(), no filter", times, recall, exact_p50["none"])
        for name, column, pick in (("station", "station", 1), ("patient", "patient_key", 0)):
            times, recall = [], []
            for i, q in enumerate(queries):
                value = picks[i][pick]
                elapsed, ids = timed(
                    app,
                    lambda s, q=q, c=column, v=value, ef=ef: hnsw_filtered(s, q, c, v, ef),
                )
                times.append(elapsed)
                recall.append(overlap(ids, truth[name][i]))
            report(f"hnsw iterative, filter {name}", times, recall, exact_p50[name])
    print("exact within the filter (what search() does)")
    for name, pick in (("station", 1), ("patient", 0)):
        times, recall = [], []
        for i, q in enumerate(queries):
            value = picks[i][pick]
            elapsed, ids = timed(
                app,
                lambda s, q=q, n=name, v=value: [
                    (h.patient_key, h.source_id)
                    for h in search(
                        s,
                        q,
                        model=MODEL,
                        k=10,
                        patient_key=v if n == "patient" else None,
                        station=v if n == "station" else None,
                    )
                ],
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth[name][i]))
        report(f"search(), filter {name}", times, recall, exact_p50[name])


def bench_interactions(loader: Engine, app: Engine, pairs: int, iterations: int) -> None:
    rng = random.Random(11)
    names = [f"drug {i:05d} {rng.choice(['hcl', 'sodium', 'tab', 'er'])}" for i in range(6000)]
    chosen: set[tuple[str, str]] = set()
    while len(chosen) < pairs:
        a, b = rng.sample(names, 2)
        chosen.add((min(a, b), max(a, b)))
    ordered = sorted(chosen)
    table = pa.table(
        {
            "drug_a": [a.upper() for a, _ in ordered],  # the loader normalises case
            "drug_b": [b for _, b in ordered],
            "severity": [rng.choice(["major", "moderate", "minor"]) for _ in ordered],
            "description": ["bench pair"] * len(ordered),
        }
    )
    started = time.perf_counter()
    load_reference(loader, prepared_table(table, "bench"))
    print(f"interaction reference: {pairs:,} pairs loaded in {time.perf_counter() - started:.1f} s")
    with Session(app) as session:
        plan = session.execute(
            text(
                "EXPLAIN (COSTS OFF) SELECT * FROM ai.drug_interactions "
                "WHERE drug_a = ANY(CAST(:n AS varchar[])) AND drug_b = ANY(CAST(:n AS varchar[]))"
            ),
            {"n": rng.sample(names, 20)},
        ).scalars()
        print(f"  plan: {next(iter(plan)).strip()} (both drug columns in the index condition)")
    times, found = [], 0
    with Session(app) as session:
        for _ in range(iterations):
            meds = rng.sample(names, 20)
            started = time.perf_counter()
            found += len(interactions_for(session, meds))
            times.append(time.perf_counter() - started)
        session.rollback()
    floor = []
    with Session(app) as session:
        for _ in range(iterations):
            started = time.perf_counter()
            session.execute(text("SELECT 1")).scalar_one()
            floor.append(time.perf_counter() - started)
        session.rollback()
    print(f"  SELECT 1 (round-trip floor)  p50 {p(floor, 0.5):.2f} ms  p99 {p(floor, 0.99):.2f} ms")
    print(
        f"  interactions_for(20 drugs)  p50 {p(times, 0.5):.2f} ms  p99 {p(times, 0.99):.2f} ms  "
        f"({found / iterations:.2f} pairs found per list on average)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument(
        "--parts", nargs="+", choices=["search", "interactions"], default=["search", "interactions"]
    )
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 1, (2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    data = vectors(rng, args.vectors, centres)
    queries = vectors(rng, args.queries, centres)
    with bench_database() as db:
        admin = make_engine(db.target.url)
        app = engine_for_role(db.target, "app", db.policy.passwords)
        loader = engine_for_role(db.target, "loader", db.policy.passwords)
        if "search" in args.parts:
            with admin.begin() as conn:
                conn.execute(text("DROP INDEX ai.ix_patient_embeddings_embedding_hnsw"))
            rate = write(app, data)
            print(f"{args.vectors:,} vectors of {DIM} dimensions written at {rate:,.0f} rows/s")
            print(f"HNSW index built in {build_index(admin):.1f} s (m=16, ef_construction=64)")
            bench_search(app, queries, args.vectors // CHUNKS_PER_PATIENT, args.ef)
        if "interactions" in args.parts:
            bench_interactions(loader, app, args.pairs, args.iterations)
        for engine in (admin, app, loader):
            engine.dispose()


if __name__ == "__main__":
    main()
