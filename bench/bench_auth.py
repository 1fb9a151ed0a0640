"""Authentication costs, as ratios measured side by side in one run.

Run from the checkout: ``python -m bench.bench_auth [--seconds 10]``

- Session validation (``medz1.auth.sessions.validate``: token hash lookup joined with the
  user, checks, no write within the activity interval) against a primary-key lookup of
  the same user row in ``auth.users``, each in its own transaction through the same
  engine and session path, as the application role. Goal: p50 and p99 at most 2x.
- Login throughput (``medz1.auth.login.login``: row lock, argon2id verification, updates,
  a new session and its audit row, one commit) against raw argon2id verifications per
  second with the same production parameters, both with one thread per core; each login
  thread logs in its own user, since one user's logins queue on its row lock by design.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from bench._server import BenchDatabase, bench_database
from medz1.auth import login, sessions, users
from medz1.auth.config import AuthConfig
from medz1.auth.passwords import PasswordHasher
from medz1.db.engine import unit_of_work
from medz1.provision.connect import engine_for_role

PASSWORD = "quiet harbor lamp at dawn"  # noqa: S105 - a throw-away test user


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples) * 1000, cuts[98] * 1000


def timed(action: Callable[[], object], count: int) -> list[float]:
    """Seconds per call of ``action``, ``count`` times."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def validation_vs_lookup(app: Engine, hasher: PasswordHasher, count: int) -> None:
    """Print validation latency against a primary-key lookup."""
    config = AuthConfig()
    now = datetime.now(UTC)
    with unit_of_work(app) as session:
        user = users.create_user(
            session,
            user=users.NewUser(email="validator@va.example.org"),
            password=PASSWORD,
            hasher=hasher,
            now=now,
        )
    result = login.login(
        app,
        email=user.email,
        password=PASSWORD,
        ip="10.0.0.1",
        user_agent="bench",
        now=now,
        hasher=hasher,
        config=config,
    )
    lookup = text("SELECT * FROM auth.users WHERE user_id = :user_id")

    def validate() -> None:
        with unit_of_work(app) as session:
            check = sessions.validate(session, token=result.token, now=now, config=config)
            check.require()

    def primary_key() -> None:
        with unit_of_work(app) as session:
            session.execute(lookup, {"user_id": user.user_id}).mappings().one()

    timed(validate, 200)  # warm up connections and plans
    timed(primary_key, 200)
    # Interleave the two so drift in the machine's load hits both alike.
    validate_s: list[float] = []
    lookup_s: list[float] = []
    for _ in range(count // 100):
        validate_s += timed(validate, 100)
        lookup_s += timed(primary_key, 100)
    v50, v99 = percentiles(validate_s)
    k50, k99 = percentiles(lookup_s)
    print(
        f"session validation p50 {v50:.3f} ms = {v50 / k50:.2f}x primary-key lookup "
        f"({k50:.3f} ms); p99 {v99:.3f} ms = {v99 / k99:.2f}x ({k99:.3f} ms); goal <= 2x"
    )


def throughput(threads: int, seconds: float, work: Callable[[int], object]) -> float:
    """Calls per second of ``work(thread index)`` run by ``threads`` threads for ``seconds``."""
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            work(index)
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(loop, range(threads)))
    return total / (time.perf_counter() - started)


def login_vs_verify(db: BenchDatabase, app: Engine, seconds: float) -> None:
    """Print login throughput against raw argon2 verification throughput."""
    hasher = PasswordHasher()  # production parameters: argon2-cffi's defaults
    config = AuthConfig()
    threads = os.cpu_count() or 1
    now = datetime.now(UTC)
    emails = [f"login{i}@va.example.org" for i in range(threads)]
    with unit_of_work(app) as session:
        for email in emails:
            users.create_user(
                session, user=users.NewUser(email=email), password=PASSWORD, hasher=hasher, now=now
            )
    stored = hasher.hash(PASSWORD)
    raw = throughput(threads, seconds, lambda _: hasher.verify(stored, PASSWORD))
    logins = throughput(
        threads,
        seconds,
        lambda i: login.login(
            app,
            email=emails[i],
            password=PASSWORD,
            ip=None,
            user_agent=None,
            now=datetime.now(UTC),
            hasher=hasher,
            config=config,
        ),
    )
    params = hasher.params
    print(
        f"login {logins:.1f}/s = {logins / raw:.2f}x raw argon2id verify {raw:.1f}/s "
        f"(m={params.memory_cost_kib} KiB, t={params.time_cost}, p={params.parallelism}; "
        f"{threads} threads on {threads} cores)"
    )


def main() -> None:
    """Run both measurements on a private server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validations", type=int, default=5000, help="samples of each")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    args = parser.parse_args()
    with bench_database() as db:
        app = engine_for_role(db.target, "app", db.policy.passwords)
        cheap = PasswordHasher()  # validation does no hashing; any parameters do
        validation_vs_lookup(app, cheap, args.validations)
        login_vs_verify(db, app, args.seconds)
        app.dispose()


if __name__ == "__main__":
    main()
