"""Chart latency with station row-level security on vs off, in one run.

Run: ``python -m bench.bench_rls [--size 5000] [--iterations 1000] [--passes 3]
[--path document|tables]``

A private bundled server gets a migrated medz1 database with ``--size`` synthetic patients
(loaded by ``medz1_loader``, then ``VACUUM ANALYZE``), scoped (``MEDZ1_STATION_SCOPING``
on), and a copy of it (``CREATE DATABASE ... TEMPLATE``) with scoping off. Each round
reads the chart of one random patient from both databases, in alternating order, the way
the service reads it: the application role's pooled engine, one
:func:`medz1.dal.session.read_session` per call, scoped to the patient's own station, a
logged-in session and the patient (the settings are ignored where scoping is off). Both
charts must be equal: row security must not hide a row of the station's own patient.
``--path document`` (the default) reads the chart as the service does, from the patient's
chart document (one table reference); ``--path tables`` asks for one more encounter than
the default, which reads the one statement over the clinical tables (about 20 table
references, each with its policy).

Printed: the load average, p50 and p99 of each (the best of ``--passes`` passes) and the
ratios on / off. Goal: both ratios <= 1.1.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from bench.bench_chart import Timing, populate, server_at, timing
from medz1.dal import chart
from medz1.dal.session import Scope, read_session
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan


def best_of(passes: list[dict[str, Timing]]) -> dict[str, Timing]:
    """Per read, the lowest p50 and p99 over repeated passes: load from other processes on
    the machine only ever adds latency, so the best pass is the closest to the truth.
    """
    return {
        name: Timing(p50=min(p[name].p50 for p in passes), p99=min(p[name].p99 for p in passes))
        for name in passes[0]
    }


def copy_unscoped(server: EmbeddedServer, role_plan: RolePlan, source: Target) -> Target:
    """A copy of ``source`` with station scoping off."""
    name = f"{source.database}_unscoped"
    admin = make_engine(
        server.url("postgres", user=SUPERUSER), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            for statement in (
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                "CREATE DATABASE {} TEMPLATE {}",
            ):
                conn.exec_driver_sql(
                    sql.SQL(statement)
                    .format(sql.Identifier(name), sql.Identifier(source.database))
                    .as_string()
                )
    finally:
        admin.dispose()
    target = Target(url=server.url(name, user=SUPERUSER), embedded=True)
    apply_grants(target, role_plan.with_station_scoping(on=False))
    return target


def stations(target: Target) -> dict[str, str]:
    """Each patient's primary station."""
    admin = make_engine(target.url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                text("SELECT patient_key, primary_station FROM patient_demographics")
            )
            return {str(k): str(s) for k, s in rows}
    finally:
        admin.dispose()


def measure(
    on: Engine,
    off: Engine,
    station_of: dict[str, str],
    iterations: int,
    seed: int,
    *,
    tables: bool = False,
) -> dict[str, Timing]:
    """Percentiles of the chart read on each database, over random patients (from the
    clinical tables when ``tables``, else from the chart documents).
    """
    rng = random.Random(seed)
    session_id = uuid.UUID(int=rng.getrandbits(128))
    encounters = chart.CHART_ENCOUNTERS + 1 if tables else chart.CHART_ENCOUNTERS
    keys = sorted(station_of)
    samples: dict[str, list[float]] = {"rls on": [], "rls off": []}
    warm_up = iterations // 10
    for round_ in range(warm_up + iterations):
        key = rng.choice(keys)
        scope = Scope(station_of[key], session_id, key)
        order = [("rls on", on), ("rls off", off)]
        if round_ % 2:
            order.reverse()
        charts = {}
        for name, engine in order:
            started = time.perf_counter()
            with read_session(engine, scope) as session:
                charts[name] = chart.patient_chart(session, patient_key=key, encounters=encounters)
            elapsed = (time.perf_counter() - started) * 1000
            if round_ >= warm_up:
                samples[name].append(elapsed)
        if charts["rls on"] is None or charts["rls on"] != charts["rls off"]:
            raise SystemExit(f"the scoped chart of {key} differs from the unscoped one")
    return {name: timing(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="synthetic patients")
    parser.add_argument("--iterations", type=int, default=1000, help="rounds per pass")
    parser.add_argument("--passes", type=int, default=3, help="best of this many passes")
    parser.add_argument(
        "--path",
        choices=("document", "tables"),
        default="document",
        help="read the chart document (as the service does) or the clinical tables",
    )
    args = parser.parse_args()
    with server_at(None, station_scoping=True) as (server, role_plan):
        with tempfile.TemporaryDirectory(prefix="medz1-bench-rls-") as scratch:
            scoped = populate(server, role_plan, args.size, Path(scratch), rebuild=False)
        unscoped = copy_unscoped(server, role_plan, scoped)
        station_of = stations(scoped)
        on = engine_for_role(scoped, "app", role_plan.passwords)
        off = engine_for_role(unscoped, "app", role_plan.passwords)
        try:
            load_before = os.getloadavg()
            passes = [
                measure(on, off, station_of, args.iterations, seed, tables=args.path == "tables")
                for seed in range(args.passes)
            ]
            load_after = os.getloadavg()
        finally:
            on.dispose()
            off.dispose()
    best = best_of(passes)
    print(
        f"chart latency ({args.path}), {args.size:,} patients, {args.iterations} rounds, "
        f"best of {args.passes}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after ({os.cpu_count()} cores)"
    )
    for name, t in best.items():
        print(f"  {name:8} p50 {t.p50:7.3f} ms   p99 {t.p99:7.3f} ms")
    p50 = best["rls on"].p50 / best["rls off"].p50
    p99 = best["rls on"].p99 / best["rls off"].p99
    print(f"  ratio on/off: p50 {p50:.3f}x, p99 {p99:.3f}x (goal <= 1.1x)")


if __name__ == "__main__":
    main()
