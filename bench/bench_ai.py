"""AI features: vector search latency and recall@10 against exact search, with and
without filters (station scoping on); bulk embedding writes; drug-interaction lookup.

Run: ``python -m bench.bench_ai [--vectors 200000] [--queries 100] [--pairs 200000]
[--parts search interactions]``

A private bundled server gets a migrated medz1 database (``bench/_server.py``) with
station scoping ON. Vectors of dimension 384 are drawn around 2,000 random centres (chart
embeddings cluster by topic; uniform random vectors would be an unrealistically hard
case) and spread over patients of 50 chunks each and 20 stations (each 5 % of the rows);
each patient also gets a ``patient_demographics`` row at that station, so the station
policies have patients to show. They are written with
:func:`medz1.ai.embeddings.replace_embeddings` as ``medz1_loader`` (the embedding job's
role) without any HNSW index, as for a first embedding of a large population; then each
station's partial HNSW index is built (``ensure_station_indexes``, as the loader) and the
whole table's one (``maintenance_work_mem`` 1 GB).

Exact search is a sequential scan and sort of the whole table (the administrator, no
row security), on the same vectors; recall@10 is the share of the exact top 10 that a
search returns. Station-filtered search, the three ways the issue names, side by side:

- iterative scan of the whole table's HNSW index with a station filter, at several
  ``hnsw.ef_search`` and ``hnsw.max_scan_tuples``;
- :func:`medz1.ai.embeddings.search` with ``station``: the station's partial HNSW index,
  as the application role read as that station (row security applied);
- a copy of the vectors in a table partitioned by station (one HNSW index per partition).

Then the patient filter (exact by primary key, as the application role) and the plan of
the scoped station search (EXPLAIN: the partial index under the row-security filter).

Interactions: p50/p99 of :func:`medz1.ai.interactions.interactions_for` for a 20-drug
list against ``--pairs`` reference pairs, interleaved in one loop with a one-row lookup
and ``SELECT 1`` on the same connection (the load of the machine hits all three alike),
and the server's planning and execution times (EXPLAIN ANALYZE) of the statement, planned
each time and as the prepared statement it is sent as.

Goals: recall@10 >= 0.95 at >= 10x the speed of exact search (also within a station);
interaction lookup p99 < 5 ms. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench._server import bench_database
from medz1.ai.chart_text import Chunk
from medz1.ai.embeddings import (
    ensure_station_indexes,
    replace_embeddings,
    search,
    search_statement,
    vector_literal,
)
from medz1.ai.interactions import (
    LOOKUP_SQL,
    interactions_for,
    load_reference,
    prepared_table,
)
from medz1.dal.session import Scope, set_scope
from medz1.db.engine import make_engine
from medz1.provision.connect import engine_for_role

DIM = 384
CHUNKS_PER_PATIENT = 50
STATIONS = 20
MODEL = "bench-clustered-384"
PARTITIONED = "ai.bench_by_station"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (as ``uptime`` prints them)."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def station_of(patient: int) -> str:
    return f"{600 + patient % STATIONS}"


def vectors(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """``n`` normalised vectors near random centres."""
    picked = centres[rng.integers(0, len(centres), n)]
    # Noise of norm about 0.35 around a centre of norm 1.
    points = picked + rng.normal(0, 0.35 / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def add_patients(loader: Engine, patients: int) -> None:
    """One patient_demographics row per bench patient, at its station."""
    with loader.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient_demographics (patient_key, icn, primary_station) "
                "SELECT 'P' || lpad(g::text, 7, '0'), 'P' || lpad(g::text, 7, '0'), "
                f"(600 + g % {STATIONS})::text FROM generate_series(0, :n - 1) AS g"
            ),
            {"n": patients},
        )


def write(loader: Engine, data: np.ndarray, batch_patients: int = 400) -> float:
    """Write every vector through replace_embeddings; return rows per second."""
    patients = len(data) // CHUNKS_PER_PATIENT
    started = time.perf_counter()
    for first in range(0, patients, batch_patients):
        keys = [f"P{p:07d}" for p in range(first, min(first + batch_patients, patients))]
        chunks = [
            Chunk(key, "bench", str(j), 0, f"chunk {j} of {key}", station_of(p))
            for p, key in enumerate(keys, start=first)
            for j in range(CHUNKS_PER_PATIENT)
        ]
        rows = data[first * CHUNKS_PER_PATIENT : (first + len(keys)) * CHUNKS_PER_PATIENT]
        with loader.begin() as conn:
            replace_embeddings(
                conn,
                model=MODEL,
                patient_keys=keys,
                chunks=chunks,
                vectors=rows,
                station_indexes=False,
            )
    return len(data) / (time.perf_counter() - started)


def build_station_indexes(loader: Engine) -> float:
    """Build every station's partial HNSW index after the bulk write (as the embedding
    job's role, through ``ensure_station_indexes``); return seconds.
    """
    started = time.perf_counter()
    with loader.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        ensure_station_indexes(conn, [station_of(p) for p in range(STATIONS)])
    return time.perf_counter() - started


def build_index(admin: Engine) -> float:
    """Build the whole table's HNSW index after the bulk write; return seconds."""
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


def build_partitioned(admin: Engine) -> float:
    """Copy the vectors into a table partitioned by station, one HNSW index per
    partition; return the seconds of the index builds.
    """
    with admin.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE {PARTITIONED} (patient_key varchar(50), source_id varchar(100), "
                "station varchar(10) NOT NULL, model varchar(100), embedding vector(384)) "
                "PARTITION BY LIST (station)"
            )
        )
        for p in range(STATIONS):
            station = station_of(p)
            conn.execute(
                text(
                    f"CREATE TABLE ai.bench_by_station_{station} PARTITION OF {PARTITIONED} "
                    f"FOR VALUES IN ('{station}')"
                )
            )
        conn.execute(
            text(
                f"INSERT INTO {PARTITIONED} SELECT patient_key, source_id, station, model, "
                "embedding FROM ai.patient_embeddings"
            )
        )
    started = time.perf_counter()
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        conn.execute(
            text(f"CREATE INDEX ON {PARTITIONED} USING hnsw (embedding vector_cosine_ops)")
        )
    elapsed = time.perf_counter() - started
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {PARTITIONED}"))
    return elapsed


Ids = list[tuple[str, str]]


def exact(
    session: Session, q: np.ndarray, where: str, params: dict[str, object], table: str
) -> Ids:
    """Top 10 by a sequential scan and sort (no index): the distance plus zero is an
    expression no index orders by (with index scans merely disabled, the planner still
    takes a partition's HNSW index).
    """
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    rows = session.execute(
        text(
            f"SELECT patient_key, source_id FROM {table} WHERE model = :model {where} "
            "ORDER BY (embedding <=> CAST(:q AS vector)) + 0 LIMIT 10"
        ),
        {"q": vector_literal(q), "model": MODEL, **params},
    ).all()
    return [(str(a), str(b)) for a, b in rows]


def iterative(
    session: Session, q: np.ndarray, table: str, where: str, value: str, ef: int, scan: int
) -> Ids:
    """An HNSW index scan of ``table`` filtered by ``where`` (iterative, strict order)."""
    session.execute(
        text(
            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
            "set_config('hnsw.ef_search', :ef, true), "
            "set_config('hnsw.max_scan_tuples', :scan, true)"
        ),
        {"ef": str(ef), "scan": str(scan)},
    )
    rows = session.execute(
        text(
            f"SELECT patient_key, source_id FROM {table} WHERE model = :model AND {where} "
            "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 10"
        ),
        {"q": vector_literal(q), "model": MODEL, "v": value},
    ).all()
    return [(str(a), str(b)) for a, b in rows]


def timed(
    engine: Engine, run: Callable[[Session], Ids], station: str | None = None
) -> tuple[float, Ids]:
    """Run one search in its own transaction; with ``station``, read as that station
    (the scope is set inside the timed part: a clinician's search pays for it).
    """
    with Session(engine) as session:
        started = time.perf_counter()
        if station is not None:
            set_scope(session, Scope(station))
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
        f"  {name:<46} p50 {p(times, 0.5):8.2f} ms  p99 {p(times, 0.99):8.2f} ms  "
        f"recall@10 {statistics.mean(recall):.3f}  vs exact {speed}",
        flush=True,
    )


def overlap(a: Ids, b: Ids) -> float:
    return len(set(a) & set(b)) / max(len(b), 1)


def hits(found: list[Any]) -> Ids:
    return [(h.patient_key, h.source_id) for h in found]


def server_ms(session: Session, statement: str, params: dict[str, object]) -> float:
    """The server's planning plus execution time of ``statement`` (EXPLAIN ANALYZE), ms."""
    lines = session.execute(text(f"EXPLAIN (ANALYZE, TIMING OFF) {statement}"), params).scalars()
    total = 0.0
    for line in lines:
        if "Planning Time:" in line or "Execution Time:" in line:
            total += float(line.split(":")[1].split()[0])
    return total


def bench_server_side(admin: Engine, app: Engine, queries: np.ndarray, ef: int) -> None:
    """Station search on the server alone (EXPLAIN ANALYZE: planning + execution, which
    the machine's load disturbs far less than round trips), median over the queries.
    """
    rng = random.Random(9)
    exact_sql = (
        "SELECT patient_key, source_id FROM {t} WHERE model = :model AND station = '{s}' "
        "ORDER BY (embedding <=> CAST(:q AS vector)) + 0 LIMIT 10"
    )
    index_sql = (
        "SELECT patient_key, source_id FROM {t} WHERE model = :model AND {w} "
        "ORDER BY embedding <=> CAST(:q AS vector) LIMIT 10"
    )
    found: dict[str, list[float]] = {}

    def measure(name: str, engine: Engine, statement: str, q: np.ndarray, station: str) -> None:
        with Session(engine) as session:
            session.execute(
                text(
                    "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
                    "set_config('hnsw.ef_search', :ef, true), "
                    "set_config('hnsw.max_scan_tuples', '100000', true)"
                ),
                {"ef": str(ef)},
            )
            if engine is app:
                set_scope(session, Scope(station))
            params = {"q": vector_literal(q), "model": MODEL, "k": 10}
            server_ms(session, statement, params)  # warm: the second run is measured
            found.setdefault(name, []).append(server_ms(session, statement, params))
            session.rollback()

    for q in queries[:30]:
        v = station_of(rng.randrange(STATIONS))
        measure("exact, whole table", admin, exact_sql.format(t="ai.patient_embeddings", s=v), q, v)
        measure("exact, one partition", admin, exact_sql.format(t=PARTITIONED, s=v), q, v)
        whole = index_sql.format(t="ai.patient_embeddings", w=f"station || '' = '{v}'")
        measure("whole-table index, iterative", admin, whole, q, v)
        measure(
            "partitioned, index per partition",
            admin,
            index_sql.format(t=PARTITIONED, w=f"station = '{v}'"),
            q,
            v,
        )
        measure("partial index (administrator)", admin, search_statement(station=v), q, v)
        measure("partial index, scoped (RLS)", app, search_statement(station=v), q, v)
    base = statistics.median(found["exact, whole table"])
    print(f"server side, station filter, ef_search {ef} (EXPLAIN ANALYZE planning + execution):")
    for name, values in found.items():
        median = statistics.median(values)
        print(f"  {name:<46} median {median:8.2f} ms  vs exact whole table {base / median:6.1f}x")


def bench_search(  # noqa: C901 - one flat list of measurements
    admin: Engine,
    app: Engine,
    queries: np.ndarray,
    patients: int,
    ef_values: list[int],
    scan_values: list[int],
) -> None:
    rng = random.Random(7)
    picks = [
        (f"P{rng.randrange(patients):07d}", station_of(rng.randrange(STATIONS))) for _ in queries
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
            elapsed, ids = timed(
                admin,
                lambda s, q=q, w=where, pr=params: exact(s, q, w, pr, "ai.patient_embeddings"),
            )
            times.append(elapsed)
            found.append(ids)
        truth[name] = found
        exact_p50[name] = statistics.median(times) * 1000
        report(f"exact, filter {name}", times, [1.0] * len(times), None)
    times, recall = [], []
    for i, q in enumerate(queries):
        elapsed, ids = timed(
            admin,
            lambda s, q=q, i=i: exact(s, q, "AND station = :s", {"s": picks[i][1]}, PARTITIONED),
        )
        times.append(elapsed)
        recall.append(overlap(ids, truth["station"][i]))
    exact_partition = statistics.median(times) * 1000
    report("exact, one partition (partitioned copy)", times, recall, None)

    for ef in ef_values:
        print(f"hnsw.ef_search = {ef}", flush=True)
        times, recall = [], []
        for i, q in enumerate(queries):
            elapsed, ids = timed(
                admin, lambda s, q=q, ef=ef: hits(search(s, q, model=MODEL, k=10, ef_search=ef))
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth["none"][i]))
        report("search(), no filter (whole-table index)", times, recall, exact_p50["none"])
        for scan in scan_values:
            times, recall = [], []
            for i, q in enumerate(queries):
                # ``station || ''`` keeps the planner off the partial indexes.
                elapsed, ids = timed(
                    admin,
                    lambda s, q=q, ef=ef, v=picks[i][1], sc=scan: iterative(
                        s, q, "ai.patient_embeddings", "station || '' = :v", v, ef, sc
                    ),
                )
                times.append(elapsed)
                recall.append(overlap(ids, truth["station"][i]))
            report(
                f"station: whole-table index, max_scan {scan // 1000}k",
                times,
                recall,
                exact_p50["station"],
            )
        times, recall = [], []
        for i, q in enumerate(queries):
            elapsed, ids = timed(
                admin,
                lambda s, q=q, ef=ef, v=picks[i][1]: iterative(
                    s, q, PARTITIONED, "station = :v", v, ef, 20_000
                ),
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth["station"][i]))
        report("station: partitioned, index per partition", times, recall, exact_p50["station"])
        times, recall = [], []
        for i, q in enumerate(queries):
            elapsed, ids = timed(
                app,
                lambda s, q=q, ef=ef, v=picks[i][1]: hits(
                    search(s, q, model=MODEL, k=10, station=v, ef_search=ef)
                ),
                station=picks[i][1],
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth["station"][i]))
        report(
            "station: search(), partial index, scoped (RLS)", times, recall, exact_p50["station"]
        )
        print(
            f"  {'':<46} (scoped search vs exact within one partition: "
            f"{exact_partition / (statistics.median(times) * 1000):.1f}x)",
            flush=True,
        )
        times, recall = [], []
        for i, q in enumerate(queries):
            elapsed, ids = timed(
                admin,
                lambda s, q=q, ef=ef, v=picks[i][1]: hits(
                    search(s, q, model=MODEL, k=10, station=v, ef_search=ef)
                ),
            )
            times.append(elapsed)
            recall.append(overlap(ids, truth["station"][i]))
        report("station: the same, administrator (no RLS)", times, recall, exact_p50["station"])
    times, recall = [], []
    for i, q in enumerate(queries):
        pk = picks[i][0]
        elapsed, ids = timed(
            app,
            lambda s, q=q, pk=pk: hits(search(s, q, model=MODEL, k=10, patient_key=pk)),
            station=station_of(int(pk[1:])),
        )
        times.append(elapsed)
        recall.append(overlap(ids, truth["patient"][i]))
    report("patient: search(), exact by key, scoped (RLS)", times, recall, exact_p50["patient"])
    with Session(app) as session:
        set_scope(session, Scope(picks[0][1]))
        plan = session.execute(
            text(
                f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {search_statement(station=picks[0][1])}"
            ),
            {"q": vector_literal(queries[0]), "model": MODEL, "k": 10},
        ).scalars()
        print("plan of a scoped station search (row security on):")
        for line in plan:
            print(f"    {line[:150]}{' ...' if len(line) > 150 else ''}")


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
    one_row = "SELECT severity FROM ai.drug_interactions WHERE drug_a = %(a)s AND drug_b = %(b)s"
    with Session(app) as session:
        raw: Any = session.connection().connection.dbapi_connection
        sample = sorted(rng.sample(names, 20))
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + LOOKUP_SQL, {"names": sample})
            lines = [r[0] for r in cursor.fetchall()]
            print("  EXPLAIN ANALYZE, planned each time:")
            for line in lines:
                if "Scan" in line or "Buffers" in line or "Time" in line:
                    print(f"    {line.strip()[:150]}")
            cursor.execute("PREPARE lookup(varchar[]) AS " + LOOKUP_SQL.replace("%(names)s", "$1"))
            execute = sql.SQL("EXECUTE lookup({}::varchar[])").format(sql.Literal(sample))
            for _ in range(6):  # after five custom plans the server settles on one plan
                cursor.execute(execute)
            cursor.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + execute)
            print("  EXPLAIN ANALYZE, prepared (as interactions_for sends it):")
            for r in cursor.fetchall():
                line = r[0]
                if "Time" in line or "Buffers" in line:
                    print(f"    {line.strip()}")
            cursor.execute("DEALLOCATE lookup")
        times: list[float] = []
        single: list[float] = []
        floor: list[float] = []
        found = 0
        for _ in range(iterations):
            meds = rng.sample(names, 20)
            a, b = ordered[rng.randrange(len(ordered))]
            started = time.perf_counter()
            with raw.cursor() as cursor:
                cursor.execute("SELECT 1", prepare=True)
                cursor.fetchall()
            floor.append(time.perf_counter() - started)
            started = time.perf_counter()
            with raw.cursor() as cursor:
                cursor.execute(one_row, {"a": a, "b": b}, prepare=True)
                cursor.fetchall()
            single.append(time.perf_counter() - started)
            started = time.perf_counter()
            found += len(interactions_for(session, meds))
            times.append(time.perf_counter() - started)
        session.rollback()
    print(
        f"  SELECT 1 (round-trip floor)        p50 {p(floor, 0.5):.2f} ms  p99 {p(floor, 0.99):.2f} ms"
    )
    print(
        f"  one-row lookup (primary key)       p50 {p(single, 0.5):.2f} ms  p99 {p(single, 0.99):.2f} ms"
    )
    print(
        f"  interactions_for(20 drugs)         p50 {p(times, 0.5):.2f} ms  p99 {p(times, 0.99):.2f} ms"
        f"  ({found / iterations:.2f} pairs found per list on average)"
    )
    print(
        f"  interactions_for / one-row lookup: p50 {p(times, 0.5) / p(single, 0.5):.2f}x, "
        f"p99 {p(times, 0.99) / p(single, 0.99):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--max-scan", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument(
        "--parts", nargs="+", choices=["search", "interactions"], default=["search", "interactions"]
    )
    args = parser.parse_args()
    print(f"load average before: {load_average()}", flush=True)
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 1, (2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    data = vectors(rng, args.vectors, centres)
    queries = vectors(rng, args.queries, centres)
    with bench_database(station_scoping=True) as db:
        admin = make_engine(db.target.url)
        app = engine_for_role(db.target, "app", db.role_plan.passwords)
        loader = engine_for_role(db.target, "loader", db.role_plan.passwords)
        if "search" in args.parts:
            with admin.begin() as conn:
                conn.execute(text("DROP INDEX ai.ix_patient_embeddings_embedding_hnsw"))
            add_patients(loader, args.vectors // CHUNKS_PER_PATIENT)
            rate = write(loader, data)
            print(
                f"{args.vectors:,} vectors of {DIM} dimensions written at {rate:,.0f} rows/s "
                "(no HNSW index during the bulk write)",
                flush=True,
            )
            print(
                f"{STATIONS} station partial HNSW indexes built in "
                f"{build_station_indexes(loader):.1f} s",
                flush=True,
            )
            print(f"whole-table HNSW index built in {build_index(admin):.1f} s", flush=True)
            print(
                f"partitioned copy: {STATIONS} HNSW indexes built in "
                f"{build_partitioned(admin):.1f} s",
                flush=True,
            )
            bench_search(
                admin, app, queries, args.vectors // CHUNKS_PER_PATIENT, args.ef, args.max_scan
            )
            bench_server_side(admin, app, queries, 100)
            print(f"load average: {load_average()}", flush=True)
        if "interactions" in args.parts:
            bench_interactions(loader, app, args.pairs, args.iterations)
        for engine in (admin, app, loader):
            engine.dispose()
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
