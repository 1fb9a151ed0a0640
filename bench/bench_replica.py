"""A reporting standby: how far it lags, and how fast it reads compared with the primary.

Run: ``python -m bench.bench_replica [--patients 1000] [--iterations 1000] [--commits 200]``

A private bundled server gets a migrated medz1 database and a hot standby
(:func:`medz1.ops.replica.create`, timed). Then, in one run:

1. *Lag under a bulk load*: ``--patients`` synthetic patients are loaded on the primary
   (``medz1_loader``, one transaction) while ``replica status`` is sampled every 20 ms;
   printed: the largest replay lag seen, in bytes and in seconds, and how long after the
   load's commit the standby had replayed everything.
2. *Commit to visibility*: ``--commits`` single-row commits on the primary; after each
   commit returns, the standby is polled until the row is there. Printed: p50, p99 and
   max of that delay (ms).
3. *Read latency*: the chart of random patients (:func:`medz1.dal.chart.patient_chart`)
   as ``reporting_user`` in a read session, taking turns between the primary and the
   standby (pooled engines, same process). Printed: p50 and p99 for each and the ratio
   standby / primary.

Both servers run on this machine, so the figures show replication's own cost, not a
network's.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from bench._server import bench_database
from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate_chunks, write_parquet_chunks
from medz1.dal import chart
from medz1.dal.session import read_session
from medz1.db.engine import make_engine
from medz1.embedded import EmbeddedServer
from medz1.ops import replica
from medz1.provision.connect import engine_for_role


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def lag_during_load(
    primary: EmbeddedServer, standby: replica.Standby, loader: Engine, patients: int
) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="medz1-bench-replica-"))
    try:
        written = write_parquet_chunks(generate_chunks(patients, seed=7), scratch)
        samples: list[replica.ReplicaStatus] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(replica.status(primary, standby))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        load(loader, prepare(scratch))
        committed = time.perf_counter()
        while True:
            found = replica.status(primary, standby)
            if found.replay_lag_bytes == 0:
                break
            time.sleep(0.005)
        caught_up = time.perf_counter()
        done.set()
        sampler.join()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = sum(w.rows for w in written)
    most_bytes = max((s.replay_lag_bytes or 0) for s in samples)
    most_seconds = max((s.replay_lag_seconds or 0.0) for s in samples)
    print(
        f"bulk load of {patients:,} patients ({rows:,} rows) in {committed - started:.1f} s: "
        f"replay lag peaked at {most_bytes / 1e6:.1f} MB and {most_seconds:.3f} s "
        f"({len(samples)} samples); standby caught up {1000 * (caught_up - committed):.0f} ms "
        "after the commit"
    )


def commit_to_visibility(primary: EmbeddedServer, standby: EmbeddedServer, commits: int) -> None:
    writer = make_engine(primary.url("medz1"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    reader = make_engine(standby.url("medz1"), isolation_level="AUTOCOMMIT")
    delays: list[float] = []
    with writer.connect() as w, reader.connect() as r:
        for n in range(commits):
            key = f"LAG-{n}"
            w.execute(
                text(
                    "INSERT INTO patient_demographics (patient_key, icn, name_last) "
                    "VALUES (:k, :k, 'Lag')"
                ),
                {"k": key},
            )
            committed = time.perf_counter()
            probe = text("SELECT 1 FROM patient_demographics WHERE patient_key = :k")
            while r.execute(probe, {"k": key}).first() is None:
                pass
            delays.append(1000 * (time.perf_counter() - committed))
    writer.dispose()
    reader.dispose()
    print(
        f"commit on the primary -> row visible on the standby ({commits} commits): "
        f"p50 {percentile(delays, 50):.2f} ms, p99 {percentile(delays, 99):.2f} ms, "
        f"max {max(delays):.2f} ms"
    )


def read_latency(primary_engine: Engine, standby_engine: Engine, iterations: int) -> None:
    with primary_engine.connect() as conn:
        keys = list(conn.execute(text("SELECT patient_key FROM patient_demographics")).scalars())
    times: dict[str, list[float]] = {"primary": [], "standby": []}
    engines = {"primary": primary_engine, "standby": standby_engine}
    for _ in range(50):  # warm both pools and prepared statements
        for engine in engines.values():
            with read_session(engine) as session:
                chart.patient_chart(session, patient_key=random.choice(keys))
    for _ in range(iterations):
        key = random.choice(keys)
        for name, engine in engines.items():
            started = time.perf_counter()
            with read_session(engine) as session:
                chart.patient_chart(session, patient_key=key)
            times[name].append(1000 * (time.perf_counter() - started))
    p50 = {name: percentile(values, 50) for name, values in times.items()}
    p99 = {name: percentile(values, 99) for name, values in times.items()}
    for name in engines:
        print(
            f"chart as reporting_user on the {name}: p50 {p50[name]:.2f} ms, p99 {p99[name]:.2f} ms"
        )
    print(
        f"standby / primary: p50 {p50['standby'] / p50['primary']:.2f}x, "
        f"p99 {p99['standby'] / p99['primary']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=200)
    args = parser.parse_args()
    with bench_database() as db:
        started = time.perf_counter()
        standby = replica.create(db.server, db.folder / "standby")
        print(f"standby made and streaming in {time.perf_counter() - started:.1f} s")
        try:
            loader = engine_for_role(db.target, "loader", db.policy.passwords)
            lag_during_load(db.server, standby, loader, args.patients)
            loader.dispose()
            admin = make_engine(db.target.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("VACUUM ANALYZE"))
            admin.dispose()
            commit_to_visibility(db.server, standby.server(), args.commits)
            on_primary = engine_for_role(db.target, "reporting", db.policy.passwords)
            where = replica.reporting_target(db.server, standby.data_dir, "medz1")
            on_standby = engine_for_role(where, "reporting", db.policy.passwords)
            read_latency(on_primary, on_standby, args.iterations)
            on_primary.dispose()
            on_standby.dispose()
        finally:
            standby.server().stop()


if __name__ == "__main__":
    main()
