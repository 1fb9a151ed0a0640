"""Read latency: ``patient_chart`` vs a primary-key lookup vs separate reads; patient search.

Run: ``python -m bench.bench_chart [--sizes 1000 50000] [--iterations 2000] [--passes 3]
[--keep DIR] [--rebuild-documents]``

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
decoding, record building), p50 and p99 of each read (the samples of ``--passes`` passes
pooled; each round reads one patient with every read, in rotating order),
the ratios chart / lookup and separate / chart, the p99 growth from the smallest to the
largest population, and p50/p99 of patient search by ICN, SSN last four, exact last name,
name prefix and name contains, with a one-row lookup in the same rounds, and each kind's
planning and execution time at the server (EXPLAIN ANALYZE). ``--rebuild-documents`` times
a rebuild of every chart document of a reused database (what a replacing load adds).
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


def bench_passwords(keep: Path | None) -> dict[str, str]:
    """Made-up passwords of the login roles. In a kept folder they are written once (owner
    only) and read back by later runs: ``up`` leaves the password of an existing role
    alone, so a reused database accepts only the passwords it was created with.
    """
    made = {role: secrets.token_urlsafe(24) for role in LOGIN_ROLES}
    if keep is None:
        return made
    stored = keep / "bench-passwords.json"
    if stored.exists():
        found: dict[str, str] = orjson.loads(stored.read_bytes())
        return found
    keep.mkdir(parents=True, exist_ok=True)
    stored.touch(mode=0o600)
    stored.write_bytes(orjson.dumps(made))
    return made


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
        passwords={role: SecretStr(p) for role, p in bench_passwords(keep).items()},
    )
    try:
        yield server, role_plan
    finally:
        if keep is None:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)


def rebuild_documents(owner: Engine, admin: Engine, size: int) -> float:
    """Rebuild every chart document as a replacing load does (one set-based statement,
    :func:`medz1.dal.chart.refresh_documents`), then VACUUM the table; print and return
    the seconds the rebuild took.
    """
    started = time.perf_counter()
    with owner.begin() as conn:
        chart.refresh_documents(conn, None)
    seconds = time.perf_counter() - started
    with admin.connect() as conn:
        conn.execute(text("VACUUM ANALYZE patient_chart_documents"))
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{size:,} patients: chart documents rebuilt in {seconds:.1f} s "
        f"({seconds / size * 1000:.2f} ms per patient; load average {load_average})"
    )
    return seconds


def populate(
    server: EmbeddedServer, role_plan: RolePlan, size: int, scratch: Path, *, rebuild: bool
) -> Target:
    """A migrated database ``bench_<size>`` holding ``size`` synthetic patients (loaded
    only when it holds none yet; its chart documents rebuilt when some are missing, or
    with ``rebuild``).
    """
    target = Target(url=server.url(f"bench_{size}", user=SUPERUSER), embedded=True)
    up(target, role_plan)
    admin = make_engine(target.url, isolation_level="AUTOCOMMIT")
    owner = make_engine(target.url)
    try:
        with admin.connect() as conn:
            present = conn.execute(text("SELECT count(*) FROM patient_demographics")).scalar()
            built = conn.execute(text("SELECT count(*) FROM patient_chart_documents")).scalar()
        if present == size:
            print(f"{size:,} patients: reusing the loaded database ({built:,} chart documents)")
            if rebuild or built != size:
                rebuild_documents(owner, admin, size)
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
        # The load rebuilt every chart document in its own transaction (its time is in
        # "loaded in"); --rebuild-documents on a reused database times a rebuild alone.
        with admin.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
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


Samples = dict[str, list[float]]


def measure(engine: Engine, rolling_back: Engine, size: int, iterations: int) -> Samples:
    """Milliseconds of each read over random patients, one read session per call.

    Like with like: each round draws ONE patient and every read reads that patient, in
    an order that rotates from round to round (no read always follows another), on the
    same pooled engine; a burst of load from elsewhere on the machine hits all of them
    alike. The first tenth of the rounds warms up connections, prepared statements and
    caches. ``chart_rollback`` runs on its own engine (``rolling_back``), every fifth
    round: its ROLLBACK would otherwise drop the prepared statements of the others'
    pooled connection.
    """
    rng = random.Random(size)
    samples: Samples = {name: [] for name in [*READS, "chart_rollback"]}
    names = list(READS)
    warm_up = iterations // 10
    for round_ in range(warm_up + iterations):
        key = f"ICN{100001 + rng.randrange(size)}"
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            started = time.perf_counter()
            with read_session(engine) as session:
                READS[name](session, key)
            elapsed = (time.perf_counter() - started) * 1000
            if round_ >= warm_up:
                samples[name].append(elapsed)
        if round_ % 5 == 0:
            started = time.perf_counter()
            with Session(rolling_back) as session:
                whole_chart(session, key)
            elapsed = (time.perf_counter() - started) * 1000
            if round_ >= warm_up:
                samples["chart_rollback"].append(elapsed)
    return samples


def pooled(passes: list[Samples]) -> dict[str, Timing]:
    """p50 and p99 of each read over the samples of every pass together (each read's
    percentiles from the same rounds as the others': no best-of per read).
    """
    return {name: timing([x for p in passes for x in p[name]]) for name in passes[0]}


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


def measure_search(
    engine: Engine, queries: dict[str, list[str]], size: int, rounds: int
) -> Samples:
    """Milliseconds of each kind of search, and of a one-row lookup made the same way in
    the same rounds: a read session per call, the kinds taking turns (rotating order).
    """
    rng = random.Random(size + 3)
    samples: Samples = {"lookup": [], **{kind: [] for kind in queries}}
    names = list(samples)
    warm_up = rounds // 10
    for round_ in range(warm_up + rounds):
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            started = time.perf_counter()
            with read_session(engine) as session:
                if name == "lookup":
                    lookup(session, f"ICN{100001 + rng.randrange(size)}")
                else:
                    texts = queries[name]
                    patients.search_patients(session, query=texts[round_ % len(texts)])
            if round_ >= warm_up:
                samples[name].append((time.perf_counter() - started) * 1000)
    return samples


@dataclass(frozen=True)
class ServerSearch:
    """Server-side figures of one kind of search over its queries (EXPLAIN ANALYZE, so
    robust to load from other processes: only this statement's own work is counted).
    """

    planning_p50: float
    execution_p50: float
    execution_max: float
    matches_p50: float
    matches_max: int


_TIME = re.compile(r"(Planning|Execution) Time: ([\d.]+) ms")


def search_server(engine: Engine, queries: dict[str, list[str]]) -> dict[str, ServerSearch]:
    """Planning and execution milliseconds of each kind's statement, unprepared, over its
    queries (each run twice, the second counted), and how many patients each matched.
    """
    found: dict[str, ServerSearch] = {}
    with read_session(engine) as session:
        for kind, texts in queries.items():
            planning, execution, matches = [], [], []
            for query in texts:
                statement, params = patients.search_statement(query)
                explain = text(f"EXPLAIN (ANALYZE, SUMMARY, TIMING OFF) {statement.text}")
                for _ in range(2):
                    rows = session.execute(explain, params).scalars().all()
                times = {m[1]: float(m[2]) for r in rows if (m := _TIME.search(r))}
                planning.append(times["Planning"])
                execution.append(times["Execution"])
                matches.append(patients.search_patients(session, query=query).total)
            found[kind] = ServerSearch(
                planning_p50=statistics.median(planning),
                execution_p50=statistics.median(execution),
                execution_max=max(execution),
                matches_p50=statistics.median(matches),
                matches_max=max(matches),
            )
    return found


# --- Report ----------------------------------------------------------------------------------


def report(
    results: dict[int, dict[str, Timing]],
    splits: dict[int, dict[str, float]],
    searches: dict[int, dict[str, Timing]],
    servers: dict[int, dict[str, ServerSearch]],
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
    print(f"\n{'patients':>9} {'search':>12} {'p50 ms':>8} {'p99 ms':>8}  (client, read session)")
    for size, kinds in searches.items():
        for kind, t in kinds.items():
            print(f"{size:>9,} {kind:>12} {t.p50:>8.3f} {t.p99:>8.3f}")
    print(
        f"\n{'patients':>9} {'search':>12} {'plan p50':>9} {'exec p50':>9} {'exec max':>9} "
        f"{'matches p50':>12} {'max':>6}  (server, EXPLAIN ANALYZE, ms)"
    )
    for size, figures in servers.items():
        for kind, f in figures.items():
            print(
                f"{size:>9,} {kind:>12} {f.planning_p50:>9.3f} {f.execution_p50:>9.3f} "
                f"{f.execution_max:>9.3f} {f.matches_p50:>12.0f} {f.matches_max:>6}"
            )
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--iterations", type=int, default=2000, help="rounds per pass")
    parser.add_argument("--passes", type=int, default=3, help="passes, their samples pooled")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the server in this folder")
    parser.add_argument(
        "--rebuild-documents",
        action="store_true",
        help="time a rebuild of every chart document of a reused database",
    )
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[int, dict[str, Timing]] = {}
    splits: dict[int, dict[str, float]] = {}
    searches: dict[int, dict[str, Timing]] = {}
    servers: dict[int, dict[str, ServerSearch]] = {}
    with server_at(args.keep) as (server, role_plan):
        scratch = Path(tempfile.mkdtemp(prefix="medz1-bench-data-"))
        try:
            for size in args.sizes:
                target = populate(server, role_plan, size, scratch, rebuild=args.rebuild_documents)
                app = engine_for_role(target, "app", role_plan.passwords)
                plain = engine_for_role(target, "app", role_plan.passwords)
                try:
                    results[size] = pooled(
                        [measure(app, plain, size, args.iterations) for _ in range(args.passes)]
                    )
                    splits[size] = split(app, size, 200)
                    queries = search_queries(app, size, 300)
                    searches[size] = pooled(
                        [measure_search(app, queries, size, args.iterations) for _ in range(2)]
                    )
                    servers[size] = search_server(app, queries)
                finally:
                    app.dispose()
                    plain.dispose()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    report(results, splits, searches, servers)


if __name__ == "__main__":
    main()
