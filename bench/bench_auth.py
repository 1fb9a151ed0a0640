"""Authentication costs, as ratios measured side by side in one run.

Run from the checkout: ``python -m bench.bench_auth [--seconds 10]``

- Session validation (``medz1.auth.sessions.validate``: token hash lookup joined with the
  user, checks, no write within the activity interval) against a primary-key lookup of
  the same user row in ``auth.users``, each in its own transaction through the same
  engine and session path, as the application role. Goal: p50 and p99 at most 2x.
- Login throughput (``medz1.auth.login.login``: reservation, argon2id verification outside
  any lock, a new session and its audit row) against raw argon2id verifications per second
  with the same production parameters, both with one thread per core.
- Load on one account (S9): 50 concurrent wrong passwords, then 50 concurrent right ones
  with the lockout threshold raised, under a 5 s statement timeout: timeouts, attempts/s
  against raw checks/s, and p99 against one lone attempt.
- Failure timing per path (S6): median time of a failed login for an unknown e-mail, a
  locked, a disabled account, a wrong password on an argon2id and on a wrapped legacy
  hash, each as a ratio of the wrong-password median.
- Hash and verify p95 with production parameters (S1), against the 1 s budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import bcrypt
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bench._server import BenchDatabase, bench_database
from medz1.auth import login, sessions, users
from medz1.auth.config import AuthConfig
from medz1.auth.passwords import PasswordHasher
from medz1.auth.records import UserRecord
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


def _user(app: Engine, hasher: PasswordHasher, email: str) -> UserRecord:
    with unit_of_work(app) as session:
        return users.create_user(
            session,
            user=users.NewUser(email=email),
            password=PASSWORD,
            hasher=hasher,
            now=datetime.now(UTC),
        )


def _attempt(
    app: Engine, hasher: PasswordHasher, email: str, password: str, config: AuthConfig
) -> bool:
    outcome = login.attempt(
        app,
        email=email,
        password=password,
        ip=None,
        user_agent=None,
        now=datetime.now(UTC),
        hasher=hasher,
        config=config,
    )
    return outcome.ok


def _burst(count: int, action: Callable[[], bool]) -> tuple[int, float, list[float]]:
    """Run ``action`` ``count`` times at once; (timeouts, seconds in all, seconds each)."""

    def one(_: int) -> tuple[bool, float]:
        started = time.perf_counter()
        try:
            action()
        except DBAPIError:
            return False, time.perf_counter() - started
        return True, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    return sum(not ok for ok, _ in results), elapsed, [t for _, t in results]


def load_on_one_account(db: BenchDatabase, count: int = 50) -> None:
    """Print timeouts, attempts/s and p99 of concurrent attempts on one account (S9)."""
    hasher = PasswordHasher()
    app = engine_for_role(
        db.target,
        "app",
        db.role_plan.passwords,
        pool_size=count + 5,
        max_overflow=0,
        connect_args={"options": "-c statement_timeout=5000"},
    )
    config = AuthConfig()
    wrong_user = _user(app, hasher, "burst-wrong@va.example.org")
    right_user = _user(app, hasher, "burst-right@va.example.org")
    lone = statistics.median(
        timed(lambda: _attempt(app, hasher, right_user.email, PASSWORD, config), 5)
    )
    stored = hasher.hash(PASSWORD)
    raw = statistics.median(timed(lambda: hasher.check(stored, "wrong password here"), 5))
    cores = os.cpu_count() or 1
    for label, email, password, rules in (
        ("wrong passwords", wrong_user.email, "wrong password here", config),
        ("right passwords", right_user.email, PASSWORD, replace(config, lockout_threshold=1000)),
    ):
        timeouts, elapsed, each = _burst(
            count, partial(_attempt, app, hasher, email, password, rules)
        )
        p99 = statistics.quantiles(each, n=100)[98]
        rate = count / elapsed
        print(
            f"{count} concurrent {label} on one account: {timeouts} timeouts (5 s limit); "
            f"{rate:.1f} attempts/s = {rate / (cores / raw):.2f}x {cores} cores of failed "
            f"checks ({cores / raw:.1f}/s); p99 {p99 * 1000:.0f} ms = {p99 / lone:.1f}x a lone "
            f"login ({lone * 1000:.0f} ms)"
        )
    app.dispose()


def failure_timing(app: Engine, samples: int) -> None:
    """Print the median time of a failed login per path, as a ratio of a wrong password (S6)."""
    hasher = PasswordHasher()  # production parameters, legacy bcrypt cost 12
    config = replace(AuthConfig(), lockout_threshold=1_000_000)
    now = datetime.now(UTC)
    paths = {
        name: _user(app, hasher, f"timing-{name}@va.example.org")
        for name in ("wrong", "legacy", "locked", "disabled")
    }
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    with unit_of_work(app) as session:
        session.execute(
            text("UPDATE auth.users SET password_hash = :h WHERE user_id = :u"),
            {"h": hasher.wrap_legacy(legacy), "u": paths["legacy"].user_id},
        )
        users.lock_user(session, user_id=paths["locked"].user_id, now=now)
        users.disable_user(session, user_id=paths["disabled"].user_id, now=now)
    emails = {
        "wrong password (argon2id)": paths["wrong"].email,
        "wrong password (wrapped legacy bcrypt)": paths["legacy"].email,
        "unknown e-mail": "nobody@va.example.org",
        "locked account": paths["locked"].email,
        "disabled account": paths["disabled"].email,
    }
    wall: dict[str, list[float]] = {label: [] for label in emails}
    cpu: dict[str, list[float]] = {label: [] for label in emails}
    for _ in range(samples):  # interleaved, so drift in the machine's load hits all alike
        for label, email in emails.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            _attempt(app, hasher, email, "wrong password here", config)
            wall[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - started_cpu)
    base = statistics.median(wall["wrong password (argon2id)"])
    base_cpu = statistics.median(cpu["wrong password (argon2id)"])
    for label in emails:
        median, median_cpu = statistics.median(wall[label]), statistics.median(cpu[label])
        print(
            f"failed login, {label}: median {median * 1000:.1f} ms = {median / base:.3f}x "
            f"a wrong password (gap {(median - base) * 1000:+.1f} ms); CPU of this process "
            f"{median_cpu * 1000:.1f} ms = {median_cpu / base_cpu:.3f}x "
            f"(gap {(median_cpu - base_cpu) * 1000:+.1f} ms); S6 goal |gap| < 10 ms"
        )


def hash_and_verify_p95(count: int) -> None:
    """Print hash and verify p95 with production parameters against the S1 budget of 1 s."""
    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    hash_p95 = statistics.quantiles(timed(lambda: hasher.hash(PASSWORD), count), n=20)[-1]
    verify_p95 = statistics.quantiles(timed(lambda: hasher.verify(stored, PASSWORD), count), n=20)[
        -1
    ]
    print(
        f"argon2id (m={hasher.params.memory_cost_kib} KiB, t={hasher.params.time_cost}, "
        f"p={hasher.params.parallelism}): hash p95 {hash_p95 * 1000:.0f} ms = "
        f"{hash_p95:.2f}x the 1 s budget; verify p95 {verify_p95 * 1000:.0f} ms = "
        f"{verify_p95:.2f}x (S1)"
    )


def main() -> None:
    """Run every measurement on a private server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validations", type=int, default=5000, help="samples of each")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    parser.add_argument("--samples", type=int, default=20, help="failed logins per path")
    args = parser.parse_args()
    with bench_database() as db:
        app = engine_for_role(db.target, "app", db.role_plan.passwords)
        cheap = PasswordHasher()  # validation does no hashing; any parameters do
        validation_vs_lookup(app, cheap, args.validations)
        login_vs_verify(db, app, args.seconds)
        load_on_one_account(db)
        failure_timing(app, args.samples)
        hash_and_verify_p95(20)
        app.dispose()


if __name__ == "__main__":
    main()
