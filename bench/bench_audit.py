"""Audit write costs, as ratios measured side by side in one run.

Run from the checkout: ``python -m bench.bench_audit [--seconds 10] [--threads 4]``

- Audit-writing transactions (``medz1.auth.audit.record`` of one event, one commit, as
  the application role) with the signed checkpoint medz1 appends and fsyncs after every
  commit, against the same transactions with no checkpoint log installed. Goal: at most
  1.5x the time per transaction.
- ``medz1.auth.chain.verify_chain`` with the checkpoints against without them.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from bench._server import bench_database
from medz1.auth import audit, checkpoints
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.checkpoints import CheckpointLog
from medz1.db.engine import unit_of_work
from medz1.provision.connect import engine_for_role


def writes_per_second(engine: Engine, seconds: float, threads: int) -> float:
    """Committed one-event audit transactions per second over ``threads`` threads."""
    deadline = time.perf_counter() + seconds

    def run(_: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            with unit_of_work(engine) as session:
                audit.record(session, [Event(AuditEvent.LOGIN_FAILED, email="b@va.example.org")])
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(run, range(threads)))
    return total / (time.perf_counter() - start)


def verify_seconds(engine: Engine, log: CheckpointLog | None) -> float:
    """Seconds of one full verification."""
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        report = audit.verify_chain(session, checkpoints=log)
    assert report.ok, report.first_break
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with bench_database() as db:
        app = engine_for_role(db.target, "app", db.role_plan.passwords, pool_size=args.threads)
        auditor = engine_for_role(db.target, "auditor", db.role_plan.passwords)
        log = checkpoints.log_for(db.folder / "medz1-data", None, create_key=True)
        assert log is not None
        try:
            plain = signed = 0.0
            for _ in range(2):  # alternated, best of two, so drift hits both alike
                plain = max(plain, writes_per_second(app, args.seconds / 2, args.threads))
                with checkpoints.installed(lambda: log):
                    signed = max(signed, writes_per_second(app, args.seconds / 2, args.threads))
            # Only the checkpointed rows can be verified against the log: start a new epoch
            # so the comparison covers the rows as they are now.
            with checkpoints.installed(lambda: log), unit_of_work(app) as session:
                audit.record(session, [Event(AuditEvent.RESTORE)], new_epoch="restore")
            bare = min(verify_seconds(auditor, None) for _ in range(3))
            keyed = min(verify_seconds(auditor, log) for _ in range(3))
        finally:
            app.dispose()
            auditor.dispose()
    print(
        f"audit writes: {signed:.0f}/s with signed checkpoints, {plain:.0f}/s without "
        f"({plain / signed:.2f}x the time per transaction); verify with checkpoints "
        f"{keyed / bare:.2f}x verify without"
    )


if __name__ == "__main__":
    main()
