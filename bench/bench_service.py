"""The service's cost over the read layer, over the audited view, and over argon2id.

Run: ``python -m bench.bench_service [--patients 200] [--requests 500] [--logins 20]
[--clients 2] [--workers 1 2] [--seconds 20]``

A private bundled server gets a migrated medz1 database with synthetic patients and one
clinician; audit checkpoints go to the signed log of a private data directory, as with
``medz1 serve``. Measured:

- in-process (Starlette's test client, one client): ``GET /patients/{icn}`` (HTML) and
  ``GET /api/v1/patients/{icn}/chart`` (JSON) vs :func:`medz1.dal.chart.patient_chart`
  in one open session; login vs one raw argon2id verification;
- where one dashboard request's time goes (in-process, one client): session check, time
  zone, scope and chart read, audit insert (with any wait for the chain head lock), COMMIT
  (the WAL fsync), the signed checkpoint (its fsync), template rendering, and the rest
  (FastAPI and the test client); statements, transactions and checkouts per request;
- over real HTTP: ``medz1 serve --workers N`` in its own process on a local port,
  ``--clients`` threads each with its own keep-alive connection, against the same number
  of threads calling (a) the bare read layer, :func:`medz1.dal.chart.patient_chart` in a
  :func:`medz1.dal.session.read_session` per call, and (b) the audited view called
  directly, :func:`medz1.auth.patient_access.open_chart` (session check, chart read,
  ``patient_view`` row, commit and checkpoint: the same work as the service's, without
  HTTP). Goals (issue 14): HTTP dashboard throughput >= 0.7x the read layer's, p99 < 4x.

Printed: requests per second, p50 and p99 in milliseconds, the ratios, the load average.
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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from bench._server import bench_database
from medz1.api import create_app, pages, views
from medz1.auth import audit, checkpoints, patient_access, sessions, users
from medz1.auth.config import AuthConfig, hasher_from_settings
from medz1.auth.patient_access import open_chart
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


def load_average() -> str:
    """The 1-minute load average (the machine is shared: print it with every figure)."""
    return f"load average {os.getloadavg()[0]:.2f}"


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
    engine: Engine, keys: list[str], token: str, settings: Settings, args: argparse.Namespace
) -> None:
    """Dashboards over real HTTP against the read layer and the audited view, the same
    number of clients; once per ``--workers`` value.
    """
    rng = random.Random(7)
    print(f"\nconcurrent, {args.clients} clients ({load_average()})")
    direct = concurrent(
        "chart read layer (read_session)",
        lambda _: _direct(engine, rng.choice(keys)),
        args.clients,
        args.requests,
        args.seconds,
    )
    config = AuthConfig.from_settings(settings)
    audited = concurrent(
        "audited view (open_chart)",
        lambda _: open_chart(engine, token=token, patient_key=rng.choice(keys), config=config),
        args.clients,
        args.requests,
        args.seconds,
    )
    for workers in args.workers:
        html, api = _http(workers, keys, token, args, rng)
        for name, rate in (("HTML dashboard", html), ("JSON chart", api)):
            print(
                f"{name}, {workers} worker(s): throughput {rate.per_second / direct.per_second:.2f}x "
                f"the read layer's (goal >= 0.7x), p99 {rate.p99 / direct.p99:.1f}x (goal < 4x); "
                f"{rate.per_second / audited.per_second:.2f}x the audited view's, p99 "
                f"{rate.p99 / audited.p99:.1f}x"
            )
    print(f"({load_average()})")


def _http(
    workers: int, keys: list[str], token: str, args: argparse.Namespace, rng: random.Random
) -> tuple[Rate, Rate]:
    """HTML and JSON dashboards against ``medz1 serve --workers workers``."""
    with served(workers) as base:
        headers = {"Authorization": f"Bearer {token}"}
        pool = [httpx.Client(base_url=base, headers=headers) for _ in range(args.clients)]
        try:
            for client in pool:  # warm both routes first (connections, templates, plans)
                for key in keys[:10]:
                    client.get(f"/patients/{key}").raise_for_status()
                    client.get(f"/api/v1/patients/{key}/chart").raise_for_status()
            html = concurrent(
                f"HTTP GET /patients/{{icn}} ({workers}w)",
                lambda c: pool[c].get(f"/patients/{rng.choice(keys)}").raise_for_status(),
                args.clients,
                args.requests,
                args.seconds,
            )
            api = concurrent(
                f"HTTP GET /api/v1/.../chart ({workers}w)",
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
    return html, api


def _direct(engine: Engine, key: str) -> object:
    with read_session(engine) as session:
        return patient_chart(session, patient_key=key)


@dataclass
class Split:
    """Seconds spent in each step of the measured requests, and counters."""

    spans: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def timing(self, owner: Any, name: str, label: str) -> Callable[[], None]:
        """Time every call of ``owner.name`` under ``label``; return the undo."""
        original = getattr(owner, name)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spans[label] = self.spans.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed_call)
        return lambda: setattr(owner, name, original)


def split(client: TestClient, keys: list[str], bearer: dict[str, str], count: int) -> None:
    """Where one in-process dashboard request's time goes (one client, ``count`` requests)."""
    measure = Split()
    engine = client.app.state.medz1.engine  # type: ignore[attr-defined]
    undo = [
        measure.timing(sessions, "validate", "session check (SELECT, maybe UPDATE)"),
        measure.timing(views, "zone_in", "time zone (SELECT)"),
        measure.timing(patient_access, "set_scope", "station scope (SELECT set_config)"),
        measure.timing(patient_access, "patient_chart", "chart read (SELECT)"),
        measure.timing(audit, "record", "audit insert (with chain lock wait)"),
        measure.timing(checkpoints.CheckpointLog, "cover", "checkpoint line + fsync"),
        measure.timing(Session, "commit", "COMMIT incl. checkpoint"),
        measure.timing(pages, "render", "template rendering"),
    ]

    def count_event(name: str) -> Callable[..., None]:
        return lambda *_: measure.counts.update([name])

    hooks = [
        (engine, "before_cursor_execute", count_event("statements")),
        (engine, "begin", count_event("transactions")),
        (engine.pool, "checkout", count_event("pool checkouts")),
    ]
    for target, name, hook in hooks:
        event.listen(target, name, hook)
    rng = random.Random(11)
    start = time.perf_counter()
    try:
        for _ in range(count):
            answer = client.get(
                f"/patients/{rng.choice(keys)}", headers=bearer, follow_redirects=False
            )
            answer.raise_for_status()
            assert answer.status_code == 200, answer.status_code  # not sent to the login page
    finally:
        total = time.perf_counter() - start
        for step in undo:
            step()
        for target, name, hook in hooks:
            event.remove(target, name, hook)
    spans = dict(measure.spans)
    commit = spans.pop("COMMIT incl. checkpoint", 0.0)
    fsynced = spans.get("checkpoint line + fsync", 0.0)
    spans["COMMIT (WAL fsync)"] = commit - fsynced
    spans["rest: FastAPI, test client, Python"] = total - sum(spans.values())
    print(f"\nwhere a dashboard request goes (in-process, {count} requests, {load_average()})")
    print(f"{'total per request':<40} {total / count * 1000:7.2f} ms")
    for label, seconds in sorted(spans.items(), key=lambda item: -item[1]):
        share = seconds / total * 100
        print(f"  {label:<38} {seconds / count * 1000:7.2f} ms  {share:5.1f} %")
    per = ", ".join(f"{name} {n / count:.1f}" for name, n in sorted(measure.counts.items()))
    print(f"  per request: {per}")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="medz1 serve --workers, each"
    )
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
        checkpoints.install(
            lambda: checkpoints.log_for(settings.data_path, settings.audit_key, create_key=True)
        )
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
            print(
                f"{args.patients} patients, {args.requests} requests each, one client "
                f"({load_average()})"
            )
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
            # A user's older sessions may have been ended by the logins above: log in again.
            fresh = client.post("/api/auth/login", json=login).json()["token"]
            split(client, keys, {"Authorization": f"Bearer {fresh}"}, args.requests)
        over_http(app_engine, keys, fresh, settings, args)
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
