"""Read latency: ``patient_chart`` vs a primary-key lookup vs separate reads; patient search.

Run: ``python -m bench.bench_chart [--sizes 1000 50000] [--iterations 2000] [--passes 3]
[--keep DIR]``

For each population size, a bundled server gets a migrated medz1 database
(``medz1.ops.up.up``), synthetic patients with the same per-patient profile (generated to
Parquet and loaded by ``medz1_loader``), then ``VACUUM ANALYZE``. The server lives in a
temporary folder, or in ``--keep DIR``, where a database already loaded by an earlier run
is migrated and reused instead of loaded again.

Every read is made the way the service makes it: the application role's pooled engine,
and one :func:`medz1.dal.session.read_session` per call (checkout, read-only transaction,
COMMIT, checkin). Random patients are read these ways, taking turns:

- lookup: one row of ``patient_demographics`` by primary key (the floor of any read);
- chart: :func:`medz1.dal.chart.patient_chart`, the seven domains in one statement (the
  patient's chart document, read by primary key, with the clock applied in Python);
- chart_tables: the same chart from the clinical tables (the one-statement
  ``json_build_object`` over every domain, what a patient without a document costs);
- chart_json: that statement's JSON text, unchanged;
- separate: the same content through the per-domain functions (nine statements);
- chart_rollback: the chart in a plain ``Session`` per call, which ends with ROLLBACK and
  so makes psycopg drop its prepared statements (the cost the read session avoids).

Printed: where a chart's time goes (planning, server execution, driver and transfer, JSON
decoding, record building), p50 and p99 of each read (the best of ``--passes`` passes),
the ratios chart / lookup and separate / chart, the p99 growth from the smallest to the
largest population, and p50/p99 of patient search by ICN, SSN last four, exact last name,
name prefix and name contains.
Goals: chart p50 and p99 <= 3x the lookup's, >= 3x faster than separate, p99 growth <=
1.2x; search p99 < 5 ms at 50,000 patients for each kind.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate_chunks, write_parquet_chunks
from medz1.dal import chart, labs, medications, patients
from medz1.dal.session import read_session
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.models import SCHEMAS, metadata
from medz1.ops.up import up
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import LOGIN_ROLES, declared_matrix, role_specs

LOOKUP = text("SELECT * FROM patient_demographics WHERE patient_key = :k")


@dataclass(frozen=True)
class Timing:
    """Latency percentiles of one way of reading, in milliseconds."""

    p50: float
    p99: float


def timing(values: list[float]) -> Timing:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Timing(p50=cuts[49], p99=cuts[98])


def lookup(session: Session, key: str) -> object:
    return session.execute(LOOKUP, {"k": key}).mappings().one()


def whole_chart(session: Session, key: str) -> object:
    return chart.patient_chart(session, patient_key=key)


def chart_tables(session: Session, key: str) -> object:
    params = chart.chart_params(patient_key=key)
    return chart.build_chart(orjson.loads(chart.chart_json(session, params)))


def chart_text(session: Session, key: str) -> object:
    return chart.chart_json(session, chart.chart_params(patient_key=key))


def separate(session: Session, key: str) -> object:
    """The chart's content, one per-domain function (one statement) at a time."""
    return (
        patients.demographics(session, patient_key=key),
        patients.latest_vitals(session, patient_key=key),
        patients.active_flags(session, patient_key=key),
        patients.allergies(session, patient_key=key),
        medications.active_outpatient_medications(session, patient_key=key),
        medications.current_inpatient_administrations(
            session, patient_key=key, limit=chart.CHART_ADMINISTRATIONS
        ),
        patients.recent_encounters(session, patient_key=key, limit=chart.CHART_ENCOUNTERS),
        patients.active_admissions(session, patient_key=key),
        labs.recent_lab_panels(session, patient_key=key, limit=chart.CHART_LAB_PANELS),
    )


READS: dict[str, Callable[[Session, str], object]] = {
    "lookup": lookup,
    "chart": whole_chart,
    "chart_tables": chart_tables,
    "chart_json": chart_text,
    "separate": separate,
}


@contextmanager
def server_at(
    keep: Path | None, *, station_scoping: bool = False
) -> Iterator[tuple[EmbeddedServer, RolePlan]]:
    """A bundled server (in ``keep`` or a temporary folder), and a role plan with made-up
    passwords (``up`` sets them on the roles). Station scoping is off unless asked for:
    these reads open patients of every station (``bench_rls`` measures its cost).
    """
    folder = keep or Path(tempfile.mkdtemp(prefix="medz1-bench-chart-"))
    server = EmbeddedServer(folder / "data")
    server.start()
    role_plan = RolePlan(
        specs=role_specs(),
        matrix=declared_matrix(metadata, SCHEMAS, station_scoping=station_scoping),
        passwords={role: SecretStr(secrets.token_urlsafe(24)) for role in LOGIN_ROLES},
    )
    try:
        yield server, role_plan
    finally:
        if keep is None:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)


def populate(server: EmbeddedServer, role_plan: RolePlan, size: int, scratch: Path) -> Target:
    """A migrated database ``bench_<size>`` holding ``size`` synthetic patients (loaded
    only when it holds none yet).
    """
    target = Target(url=server.url(f"bench_{size}", user=SUPERUSER), embedded=True)
    up(target, role_plan)
    admin = make_engine(target.url, isolation_level="AUTOCOMMIT")
    owner = make_engine(target.url)
    try:
        with admin.connect() as conn:
            present = conn.execute(text("SELECT count(*) FROM patient_demographics")).scalar()
        if present == size:
            print(f"{size:,} patients: reusing the loaded database")
            return target
        started = time.perf_counter()
        folder = scratch / str(size)
        written = write_parquet_chunks(generate_chunks(size, seed=11), folder)
        generated = time.perf_counter()
        loader = engine_for_role(target, "loader", role_plan.passwords)
        try:
            load(loader, prepare(folder))
        finally:
            loader.dispose()
        loaded = time.perf_counter()
        with admin.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        rebuilding = time.perf_counter()
        with owner.begin() as conn:
            chart.refresh_documents(conn, None)
        print(
            f"{size:,} patients: chart documents rebuilt in {time.perf_counter() - rebuilding:.1f} s"
        )
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        admin.dispose()
        owner.dispose()
    rows = sum(w.rows for w in written)
    print(
        f"{size:,} patients: {rows:,} rows; generated in {generated - started:.0f} s, "
        f"loaded in {loaded - generated:.0f} s, vacuumed in {time.perf_counter() - loaded:.0f} s"
    )
    return target


def measure(engine: Engine, rolling_back: Engine, size: int, iterations: int) -> dict[str, Timing]:
    """Percentiles of each read over random patients, one read session per call.

    The reads take turns (lookup, chart, ..., lookup, ...), each on its own random
    patient, so a burst of load from elsewhere on the machine hits all of them alike. The
    first tenth of the rounds warms up connections, prepared statements and caches.
    ``chart_rollback`` runs on its own engine (``rolling_back``): its ROLLBACK would
    otherwise drop the prepared statements of the others' pooled connection.
    """
    rng = random.Random(size)
    samples: dict[str, list[float]] = {name: [] for name in [*READS, "chart_rollback"]}
    warm_up = iterations // 10
    for round_ in range(warm_up + iterations):
        for name, read in READS.items():
            key = f"ICN{100001 + rng.randrange(size)}"
            started = time.perf_counter()
            with read_session(engine) as session:
                read(session, key)
            elapsed = (time.perf_counter() - started) * 1000
            if round_ >= warm_up:
                samples[name].append(elapsed)
        if round_ % 5 == 0:
            key = f"ICN{100001 + rng.randrange(size)}"
            started = time.perf_counter()
            with Session(rolling_back) as session:
                whole_chart(session, key)
            elapsed = (time.perf_counter() - started) * 1000
            if round_ >= warm_up:
                samples["chart_rollback"].append(elapsed)
    return {name: timing(values) for name, values in samples.items()}


def best_of(passes: list[dict[str, Timing]]) -> dict[str, Timing]:
    """Per read, the lowest p50 and p99 over repeated passes: load from other processes on
    the machine only ever adds latency, so the best pass is the closest to the truth.
    """
    return {
        name: Timing(p50=min(p[name].p50 for p in passes), p99=min(p[name].p99 for p in passes))
        for name in passes[0]
    }


# --- Where a chart's time goes --------------------------------------------------------------

_TYPES = {
    "patient_key": "text",
    "as_of": "timestamptz",
}


def _numbered() -> tuple[str, str, list[str]]:
    """The chart SQL with ``$n`` parameters (for PREPARE), with ``%(name)s`` ones (for the
    driver), and the parameter names in order.
    """
    names = list(chart.ChartParams.__dataclass_fields__)
    numbered = named = chart.CHART_SQL
    for number, name in enumerate(names, start=1):
        numbered = re.sub(rf"(?<![:\w]):{name}\b", f"${number}", numbered)
        named = re.sub(rf"(?<![:\w]):{name}\b", f"%({name})s", named)
    return numbered, named, names


def _summary(rows: list[str]) -> tuple[float, float]:
    found = {}
    for row in rows:
        match = re.match(r"(Planning|Execution) Time: ([\d.]+) ms", row.strip())
        if match:
            found[match.group(1)] = float(match.group(2))
    return found["Planning"], found["Execution"]


def split(engine: Engine, size: int, samples: int) -> dict[str, float]:
    """Median milliseconds of each step of a chart read, over random patients.

    planning (unprepared) and execution come from EXPLAIN ANALYZE on the server (the
    statement unprepared, and prepared once its generic plan is in use); "round trip" is a
    whole prepared read of the JSON text in a read session, seen from Python, so what it
    adds to execution is driver, transfer and session overhead; decoding and building are
    timed on the texts read.
    """
    rng = random.Random(size + 1)
    keys = [f"ICN{100001 + rng.randrange(size)}" for _ in range(samples)]
    statement, named, names = _numbered()
    types = ", ".join(_TYPES.get(name, "integer") for name in names)
    planning, prepared_planning, execution, trips, decoding, building = [], [], [], [], [], []
    raws: list[str] = []
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PREPARE bench_chart({types}) AS {statement}")
        for key in keys:
            params = chart.chart_params(patient_key=key)
            values = {name: getattr(params, name) for name in names}
            plain = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, SUMMARY, TIMING OFF) {named}", values)
            planning.append(_summary(list(plain.scalars()))[0])
            execute = (
                sql.SQL("EXECUTE bench_chart({})")
                .format(sql.SQL(", ").join(sql.Literal(v) for v in values.values()))
                .as_string()
            )
            conn.exec_driver_sql(execute)
            shown = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, SUMMARY, TIMING OFF) {execute}")
            plan, run = _summary(list(shown.scalars()))
            prepared_planning.append(plan)
            execution.append(run)
        conn.rollback()
    for key in keys * 2:
        started = time.perf_counter()
        with read_session(engine) as session:
            raw = chart.chart_json(session, chart.chart_params(patient_key=key))
        trips.append((time.perf_counter() - started) * 1000)
        raws.append(raw)
    for raw in raws:
        started = time.perf_counter()
        data = orjson.loads(raw)
        decoded = time.perf_counter()
        chart.build_chart(data)
        built = time.perf_counter()
        decoding.append((decoded - started) * 1000)
        building.append((built - decoded) * 1000)
    documents, document_trips, document_decoding, document_building = [], [], [], []
    for key in keys * 2:
        started = time.perf_counter()
        with read_session(engine) as session:
            document = chart.chart_document(session, key)
        document_trips.append((time.perf_counter() - started) * 1000)
        if document is not None:
            documents.append(document)
    now = patients.now()
    for document in documents:
        started = time.perf_counter()
        data = orjson.loads(document)
        decoded = time.perf_counter()
        chart.chart_at(data, now)
        built = time.perf_counter()
        document_decoding.append((decoded - started) * 1000)
        document_building.append((built - decoded) * 1000)
    median = statistics.median
    return {
        "document: round trip (primary key)": median(document_trips[len(keys) :]),
        "document: JSON decoding (orjson)": median(document_decoding),
        "document: records and clock": median(document_building),
        "document JSON bytes": median(len(d) for d in documents),
        "planning, unprepared": median(planning),
        "planning, prepared": median(prepared_planning[len(keys) // 2 :]),
        "server execution": median(execution),
        "round trip of the prepared statement": median(trips[len(keys) :]),
        "JSON decoding (orjson)": median(decoding),
        "record building": median(building),
        "chart JSON bytes": median(len(raw) for raw in raws),
    }


# --- Search ----------------------------------------------------------------------------------


def search_queries(engine: Engine, size: int, count: int) -> dict[str, list[str]]:
    """Search texts of each kind, from random patients' own identifiers and names."""
    rng = random.Random(size + 2)
    keys = [f"ICN{100001 + rng.randrange(size)}" for _ in range(count)]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT patient_key, ssn_last4, name_last FROM patient_demographics "
                "WHERE patient_key = ANY(:keys)"
            ),
            {"keys": keys},
        ).all()
    queries: dict[str, list[str]] = {
        "icn": [],
        "ssn last4": [],
        "last name": [],
        "prefix": [],
        "contains": [],
    }
    for key, last4, last in rows:
        queries["icn"].append(key.lower())
        if last4:
            queries["ssn last4"].append(last4)
        if last and len(last) >= 5:
            queries["last name"].append(last)
            queries["prefix"].append(last[:3])
            queries["contains"].append(last[1:4])
    return queries


def measure_search(engine: Engine, queries: dict[str, list[str]], rounds: int) -> dict[str, Any]:
    """p50/p99 of each kind of search, a read session per call, the kinds taking turns."""
    samples: dict[str, list[float]] = {kind: [] for kind in queries}
    warm_up = rounds // 10
    for round_ in range(warm_up + rounds):
        for kind, texts in queries.items():
            query = texts[round_ % len(texts)]
            started = time.perf_counter()
            with read_session(engine) as session:
                patients.search_patients(session, query=query)
            if round_ >= warm_up:
                samples[kind].append((time.perf_counter() - started) * 1000)
    return {kind: timing(values) for kind, values in samples.items()}


# --- Report ----------------------------------------------------------------------------------


def report(
    results: dict[int, dict[str, Timing]],
    splits: dict[int, dict[str, float]],
    searches: dict[int, dict[str, Timing]],
) -> None:
    for size, parts in splits.items():
        print(f"\nwhere a chart read goes, {size:,} patients (medians):")
        for name, value in parts.items():
            unit = "" if "bytes" in name else " ms"
            print(f"  {name:<40} {value:>9.3f}{unit}")
    print(f"\n{'patients':>9} {'read':>15} {'p50 ms':>8} {'p99 ms':>8}")
    for size, timings in results.items():
        for name, t in timings.items():
            print(f"{size:>9,} {name:>15} {t.p50:>8.3f} {t.p99:>8.3f}")
    print()
    for size, of in results.items():
        print(
            f"{size:,} patients: chart = {of['chart'].p50 / of['lookup'].p50:.2f}x lookup at "
            f"p50, {of['chart'].p99 / of['lookup'].p99:.2f}x at p99 (goal <= 3x); "
            f"separate = {of['separate'].p50 / of['chart'].p50:.2f}x chart at p50, "
            f"{of['separate'].p99 / of['chart'].p99:.2f}x at p99 (goal >= 3x); "
            f"chart_tables = {of['chart_tables'].p50 / of['lookup'].p50:.2f}x lookup at p50, "
            f"separate = {of['separate'].p50 / of['chart_tables'].p50:.2f}x chart_tables"
        )
    sizes = sorted(results)
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        growth = ", ".join(f"{n} {large[n].p99 / small[n].p99:.2f}x" for n in small)
        print(f"p99 growth {sizes[0]:,} -> {sizes[-1]:,} patients: {growth} (goal chart <= 1.2x)")
    print(f"\n{'patients':>9} {'search':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for size, kinds in searches.items():
        for kind, t in kinds.items():
            print(f"{size:>9,} {kind:>12} {t.p50:>8.3f} {t.p99:>8.3f}")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--iterations", type=int, default=2000, help="rounds per pass")
    parser.add_argument("--passes", type=int, default=3, help="best of this many passes")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the server in this folder")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[int, dict[str, Timing]] = {}
    splits: dict[int, dict[str, float]] = {}
    searches: dict[int, dict[str, Timing]] = {}
    with server_at(args.keep) as (server, role_plan):
        scratch = Path(tempfile.mkdtemp(prefix="medz1-bench-data-"))
        try:
            for size in args.sizes:
                target = populate(server, role_plan, size, scratch)
                app = engine_for_role(target, "app", role_plan.passwords)
                plain = engine_for_role(target, "app", role_plan.passwords)
                try:
                    passes = [
                        measure(app, plain, size, args.iterations) for _ in range(args.passes)
                    ]
                    results[size] = best_of(passes)
                    splits[size] = split(app, size, 200)
                    queries = search_queries(app, size, 300)
                    searches[size] = best_of(
                        [measure_search(app, queries, args.iterations // 2) for _ in range(2)]
                    )
                finally:
                    app.dispose()
                    plain.dispose()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    report(results, splits, searches)


if __name__ == "__main__":
    main()
