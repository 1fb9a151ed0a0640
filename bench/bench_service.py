"""The service's cost over the read layer and over argon2id.

Run: ``python -m bench.bench_service [--patients 200] [--requests 500] [--logins 20]``

A private bundled server gets a migrated medz1 database with synthetic patients and one
clinician. The app (``create_app``, in-process through Starlette's test client: no network,
so the figures are the service's own cost) is measured against what it wraps:

- dashboard: ``GET /patients/{icn}`` (HTML) and ``GET /api/v1/patients/{icn}/chart``
  (JSON), each with session validation, the chart read and its ``patient_view`` audit row,
  vs :func:`medz1.dal.chart.patient_chart` called directly in one open session;
- login: ``POST /api/auth/login`` (right password) vs one raw argon2id verification with
  the same parameters.

Printed: requests per second, p50 and p99 in milliseconds, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from sqlalchemy import text

from bench._server import bench_database
from medz1.api import create_app
from medz1.auth import users
from medz1.auth.config import hasher_from_settings
from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.dal.chart import patient_chart
from medz1.db.engine import session_factory
from medz1.provision.connect import engine_for_role
from medz1.provision.declared import APP, AUDITOR, LOADER, REPORTING
from medz1.settings import load_settings

PASSWORD = "correct horse battery staple fig"  # noqa: S105 - a benchmark user
EMAIL = "bench.clinician@va.example.org"


def timed(action: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of ``count`` calls of ``action``."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(name: str, times: list[float]) -> float:
    """Print req/s, p50 and p99; return p50."""
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(times) / (sum(times) / 1000)
    print(f"{name:<34} {rate:8.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return p50


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    with bench_database() as bench:
        folder = bench.folder / "parquet"
        write_parquet(generate(args.patients, seed=3), folder)
        loader = engine_for_role(bench.target, "loader", bench.role_plan.passwords)
        load(loader, prepare(folder))
        loader.dispose()
        url = bench.target.url.set(drivername="postgresql")
        os.environ["MEDZ1_DATABASE_URL"] = url.render_as_string(hide_password=False)
        os.environ["MEDZ1_DATA_DIR"] = str(Path(bench.folder) / "service")
        for role, alias in ((APP, "APP"), (REPORTING, "REPORTING"), (LOADER, "LOADER")):
            os.environ[f"MEDZ1_{alias}_PASSWORD"] = bench.role_plan.passwords[
                role
            ].get_secret_value()
        os.environ["MEDZ1_AUDITOR_PASSWORD"] = bench.role_plan.passwords[AUDITOR].get_secret_value()
        os.environ["MEDZ1_SERVICE_LOGIN_ATTEMPTS_PER_MINUTE"] = "10000"
        settings = load_settings()
        app_engine = engine_for_role(bench.target, "app", bench.role_plan.passwords)
        with session_factory(app_engine)() as session, session.begin():
            users.create_user(
                session,
                user=users.NewUser(email=EMAIL),
                password=PASSWORD,
                hasher=hasher_from_settings(settings),
                now=datetime.now(UTC),
            )
        with app_engine.connect() as conn:
            keys = [
                row[0] for row in conn.execute(text("SELECT patient_key FROM patient_demographics"))
            ]
        rng = random.Random(5)
        with TestClient(create_app(settings)) as client:
            login = {"email": EMAIL, "password": PASSWORD}
            token = client.post("/api/auth/login", json=login).json()["token"]
            bearer = {"Authorization": f"Bearer {token}"}
            print(f"{args.patients} patients, {args.requests} requests each, one client")
            direct_session = session_factory(app_engine)()
            direct = summary(
                "chart read layer (direct)",
                timed(
                    lambda: patient_chart(direct_session, patient_key=rng.choice(keys)),
                    args.requests,
                ),
            )
            direct_session.close()
            page = summary(
                "GET /patients/{icn} (HTML)",
                timed(
                    lambda: client.get(f"/patients/{rng.choice(keys)}", headers=bearer),
                    args.requests,
                ),
            )
            api = summary(
                "GET /api/v1/patients/{icn}/chart",
                timed(
                    lambda: client.get(
                        f"/api/v1/patients/{rng.choice(keys)}/chart", headers=bearer
                    ),
                    args.requests,
                ),
            )
            service_login = summary(
                "POST /api/auth/login",
                timed(lambda: client.post("/api/auth/login", json=login), args.logins),
            )
        raw = Argon2(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        stored = raw.hash(PASSWORD)
        argon = summary(
            "argon2id verify (raw)", timed(lambda: raw.verify(stored, PASSWORD), args.logins)
        )
        app_engine.dispose()
    print(
        f"dashboard HTML p50 {page / direct:.1f}x the direct chart read, JSON {api / direct:.1f}x; "
        f"login p50 {service_login / argon:.2f}x one raw argon2id verification"
    )


if __name__ == "__main__":
    main()
