"""Backup and restore throughput: ``medz1 backup`` vs plain ``pg_dump`` / ``pg_restore``.

Run: ``python -m bench.bench_backup [--rows 400000] [--repeat 3]``

Both sides work on the same data in the same run, on a private bundled server:

- backup: plain ``pg_dump --format=custom`` of the four schemas, against ``medz1 backup
  create`` (the same archive, plus row counts, content digests and ACLs in the manifest,
  computed while pg_dump runs);
- restore: ``CREATE DATABASE`` + ``pg_restore`` into it, against ``medz1 backup restore``
  into a new database (roles, grants, and the verification of every count, digest and ACL
  included). ``pg_restore --jobs`` is shown too, since medz1 restores with several jobs.

Each is run ``--repeat`` times, alternating; the medians are compared.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from bench._server import BenchDatabase, bench_database
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import bundled_major_version
from medz1.models import SCHEMAS
from medz1.ops.backup import create, restore
from medz1.ops.backup._tools import choose_tools, dbname_conninfo, libpq_env

_FILL = [
    """INSERT INTO public.patient_demographics (patient_key, icn, name_last, name_first, dob,
           sex, primary_station, address_city, last_updated)
       SELECT 'P' || g, 'P' || g, 'Last' || g, 'First' || (g % 977), date '1940-01-01' + g % 20000,
              CASE WHEN g % 2 = 0 THEN 'M' ELSE 'F' END, (500 + g % 90)::text,
              'City ' || (g % 313), now()
       FROM generate_series(1, :patients) g""",
    """INSERT INTO public.patient_vitals (patient_key, vital_sign_id, vital_type, vital_abbr,
           taken_datetime, result_value, numeric_value, systolic, diastolic, unit_of_measure,
           qualifiers, location_name)
       SELECT 'P' || (g % :patients + 1), g, 'BLOOD PRESSURE', 'BP',
              timestamptz '2020-01-01' + g * interval '7 minutes',
              (100 + g % 60) || '/' || (60 + g % 30), 100 + g % 60, 100 + g % 60, 60 + g % 30,
              'mmHg', jsonb_build_object('position', CASE WHEN g % 3 = 0 THEN 'sitting'
              ELSE 'standing' END), 'Clinic ' || (g % 50)
       FROM generate_series(1, :vitals) g""",
    """INSERT INTO public.patient_labs (patient_key, lab_chem_sid, lab_test_sid, lab_test_name,
           accession_number, result_value, result_numeric, collection_datetime, result_datetime)
       SELECT 'P' || (g % :patients + 1), g, g % 300, 'Test ' || (g % 300), 'ACC' || g,
              (g % 100)::text, (g % 1000) / 7.0,
              timestamptz '2020-01-01' + g * interval '5 minutes',
              timestamptz '2020-01-01' + g * interval '5 minutes' + interval '1 hour'
       FROM generate_series(1, :labs) g""",
    """INSERT INTO auth.users (email, password_hash, display_name)
       SELECT 'user' || g || '@va.example', '$argon2id$v=19$m=65536,t=3,p=4$' || md5(g::text),
              'User ' || g FROM generate_series(1, 200) g""",
    """INSERT INTO auth.audit_logs (user_id, event_type, email, success)
       SELECT u.user_id, 'login_success', u.email, true
       FROM auth.users u CROSS JOIN generate_series(1, :audits_per_user)""",
]


def fill(db: BenchDatabase, rows: int) -> int:
    """Insert about ``rows`` rows across the schemas; return the exact count."""
    patients = max(100, rows // 80)
    counts = {
        "patients": patients,
        "vitals": int(rows * 0.7),
        "labs": int(rows * 0.25),
        "audits_per_user": max(1, rows // 4000),
    }
    engine = make_engine(db.target.url)
    with engine.begin() as conn:
        for statement in _FILL:
            conn.execute(text(statement), counts)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        total = 0
        for schema in SCHEMAS:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalars()
            for name in names:
                total += int(
                    conn.execute(text(f"SELECT count(*) FROM {schema}.{name}")).scalar_one()
                )
    engine.dispose()
    return total


def _admin(target: Target) -> Engine:
    return make_engine(target.maintenance_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def _run_sql(target: Target, statement: sql.Composed) -> None:
    engine = _admin(target)
    with engine.connect() as conn:
        conn.exec_driver_sql(statement.as_string())
    engine.dispose()


def plain_pg_dump(db: BenchDatabase, out: Path, compress: int | None = None) -> float:
    """Seconds for ``pg_dump --format=custom`` of medz1's schemas."""
    tools = choose_tools(bundled_major_version())
    command = [str(tools.pg_dump), "--format=custom", f"--file={out}"]
    if compress is not None:
        command.append(f"--compress={compress}")
    command += [f"--schema={schema}" for schema in SCHEMAS]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=libpq_env(db.target.url))  # noqa: S603
    return time.perf_counter() - started


def plain_pg_restore(db: BenchDatabase, archive: Path, name: str, jobs: int) -> float:
    """Seconds for CREATE DATABASE + the vector extension + ``pg_restore`` into it."""
    tools = choose_tools(bundled_major_version())
    target = Target(url=db.target.url.set(database=name), embedded=True)
    started = time.perf_counter()
    _run_sql(target, sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    engine = make_engine(target.url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION vector SCHEMA public"))
    engine.dispose()
    # Exit code 1 is expected: "schema public already exists" (a new database has it).
    subprocess.run(  # noqa: S603
        [
            str(tools.pg_restore),
            f"--dbname={dbname_conninfo(name)}",
            f"--jobs={jobs}",
            str(archive),
        ],
        check=False,
        env=libpq_env(target.url),
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    _drop(db, name)
    return seconds


def medz1_backup(db: BenchDatabase, out: Path) -> tuple[float, Path]:
    """Seconds for ``medz1 backup create`` and the backup directory."""
    started = time.perf_counter()
    report = create(db.target, root=out.parent, out=out)
    return time.perf_counter() - started, report.path


def medz1_restore(db: BenchDatabase, backup: Path, name: str) -> float:
    """Seconds for ``medz1 backup restore`` into a new database, verification included."""
    started = time.perf_counter()
    restore(db.target, db.role_plan, backup, into=name)
    seconds = time.perf_counter() - started
    _drop(db, name)
    return seconds


def _drop(db: BenchDatabase, name: str) -> None:
    _run_sql(
        db.target,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
    )


def _measure(runs: dict[str, Callable[[int], float]], repeat: int) -> dict[str, float]:
    """Median seconds of each run, the runs interleaved so that load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeat):
        for name, run in runs.items():
            times[name].append(run(i))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    """Fill a private database, then time both sides and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with bench_database() as db:
        rows = fill(db, args.rows)
        work = db.folder / "bench"
        work.mkdir()
        plain, fast = work / "plain.dump", work / "plain-z1.dump"
        backups: list[Path] = []

        def backup_once(i: int) -> float:
            seconds, path = medz1_backup(db, work / f"medz1-{i}")
            backups.append(path)
            return seconds

        dump = _measure(
            {
                "pg_dump": lambda _: plain_pg_dump(db, plain),
                "pg_dump -Z1": lambda _: plain_pg_dump(db, fast, compress=1),
                "medz1": backup_once,
            },
            args.repeat,
        )
        load = _measure(
            {
                "pg_restore": lambda i: plain_pg_restore(db, plain, f"bench_plain_{i}", jobs=1),
                "pg_restore -j2": lambda i: plain_pg_restore(db, plain, f"bench_j_{i}", jobs=2),
                "medz1": lambda i: medz1_restore(db, backups[0], f"bench_medz1_{i}"),
            },
            args.repeat,
        )
        ours = (backups[0] / "archive.dump").stat().st_size
        print(
            f"data: {rows:,} rows in {len(SCHEMAS)} schemas; archive {plain.stat().st_size / 1e6:.1f}"
            f" MB (pg_dump default gzip), {ours / 1e6:.1f} MB (medz1, gzip level 1); "
            f"median of {args.repeat} runs"
        )
        print(
            f"backup : medz1 backup create {dump['medz1']:.2f} s ({rows / dump['medz1']:,.0f} rows/s)"
            f" = {dump['medz1'] / dump['pg_dump']:.2f}x pg_dump ({dump['pg_dump']:.2f} s), "
            f"{dump['medz1'] / dump['pg_dump -Z1']:.2f}x pg_dump -Z1 ({dump['pg_dump -Z1']:.2f} s)"
        )
        print(
            f"restore: medz1 backup restore, verified, {load['medz1']:.2f} s "
            f"({rows / load['medz1']:,.0f} rows/s) = {load['medz1'] / load['pg_restore']:.2f}x "
            f"pg_restore ({load['pg_restore']:.2f} s), "
            f"{load['medz1'] / load['pg_restore -j2']:.2f}x pg_restore -j2 "
            f"({load['pg_restore -j2']:.2f} s)"
        )


if __name__ == "__main__":
    main()
