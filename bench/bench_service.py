"""The service's cost over the read layer and over argon2id.

Run: ``python -m bench.bench_service [--patients 200] [--requests 500] [--logins 20]
[--clients 2] [--seconds 20]``

A private bundled server gets a migrated medz1 database with synthetic patients and one
clinician. The app (``create_app``, in-process through Starlette's test client: no network,
so the figures are the service's own cost) is measured against what it wraps:

- dashboard: ``GET /patients/{icn}`` (HTML) and ``GET /api/v1/patients/{icn}/chart``
  (JSON), each with session validation, the chart read and its ``patient_view`` audit row,
  vs :func:`medz1.dal.chart.patient_chart` called directly in one open session;
- login: ``POST /api/auth/login`` (right password) vs one raw argon2id verification with
  the same parameters.

Then over real HTTP: ``medz1 serve`` in its own process on a local port,
``--clients`` threads each with its own keep-alive connection request dashboards
(``--requests`` in all, or until ``--seconds`` pass), against the same number of threads
calling :func:`medz1.dal.chart.patient_chart` directly, each call in its own
:func:`medz1.dal.session.read_session` on a pooled engine. Goals: HTTP dashboard
throughput >= 0.7x the read layer's, p99 < 4x its p99.

Printed: requests per second, p50 and p99 in milliseconds, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from bench._server import bench_database
from medz1.api import create_app
from medz1.auth import users
from medz1.auth.config import hasher_from_settings
from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.dal.chart import patient_chart
from medz1.dal.session import read_session
from medz1.db.engine import session_factory
from medz1.provision.connect import engine_for_role
from medz1.provision.declared import APP, AUDITOR, LOADER, REPORTING
from medz1.settings import Settings, load_settings

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


@dataclass(frozen=True)
class Rate:
    """Throughput and latency of one way of reading under concurrent clients."""

    per_second: float
    p50: float
    p99: float


def concurrent(
    name: str, action: Callable[[int], object], clients: int, count: int, seconds: float
) -> Rate:
    """Run ``action(client)`` from ``clients`` threads until ``count`` calls in all or
    ``seconds`` passed; print and return throughput (calls / wall time), p50 and p99.
    """
    times: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(client: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                if len(times) >= count:
                    return
            start = time.perf_counter()
            action(client)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                times.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(times)
    rate = Rate(
        per_second=len(times) / wall,
        p50=statistics.median(ordered),
        p99=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )
    print(
        f"{name:<34} {rate.per_second:8.1f} req/s   p50 {rate.p50:7.2f} ms   "
        f"p99 {rate.p99:7.2f} ms   ({len(times)} calls, {clients} clients)"
    )
    return rate


@contextmanager
def served(workers: int) -> Iterator[str]:
    """``medz1 serve`` in its own process on a free local port (the settings are this
    process's ``MEDZ1_*`` environment); yields its base URL once ``/healthz`` answers.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "medz1", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def over_http(
    settings: Settings, engine: Engine, keys: list[str], token: str, args: argparse.Namespace
) -> None:
    """Dashboards over real HTTP against the read layer, the same number of clients."""
    rng = random.Random(7)
    direct = concurrent(
        "chart read layer (read_session)",
        lambda _: _direct(engine, rng.choice(keys)),
        args.clients,
        args.requests,
        args.seconds,
    )
    with served(args.workers) as base:
        headers = {"Authorization": f"Bearer {token}"}
        pool = [httpx.Client(base_url=base, headers=headers) for _ in range(args.clients)]
        try:
            html = concurrent(
                "HTTP GET /patients/{icn}",
                lambda c: pool[c].get(f"/patients/{rng.choice(keys)}").raise_for_status(),
                args.clients,
                args.requests,
                args.seconds,
            )
            api = concurrent(
                "HTTP GET /api/v1/.../chart",
                lambda c: (
                    pool[c].get(f"/api/v1/patients/{rng.choice(keys)}/chart").raise_for_status()
                ),
                args.clients,
                args.requests,
                args.seconds,
            )
        finally:
            for client in pool:
                client.close()
    for name, rate in (("HTML dashboard", html), ("JSON chart", api)):
        print(
            f"{name} over HTTP: throughput {rate.per_second / direct.per_second:.2f}x the read "
            f"layer's (goal >= 0.7x), p99 {rate.p99 / direct.p99:.1f}x (goal < 4x)"
        )


def _direct(engine: Engine, key: str) -> object:
    with read_session(engine) as session:
        return patient_chart(session, patient_key=key)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=1, help="medz1 serve --workers")
    parser.add_argument("--seconds", type=float, default=20, help="time bound per measurement")
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
            fresh = client.post("/api/auth/login", json=login).json()["token"]
        over_http(settings, app_engine, keys, fresh, args)
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
