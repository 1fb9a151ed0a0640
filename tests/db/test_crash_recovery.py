"""S28: kill -9 of the bundled server under write load loses no acknowledged commit,
leaves no partial load, and leaves clean page checksums and a verifiable audit chain.

The test runs a server of its own. Each cycle: logins (two threads) and full-table
clinical loads (one thread) write; the postmaster is killed with SIGKILL while they do;
the server is restarted (crash recovery) and checked, stopped cleanly for
``pg_checksums --check`` (it reads only a cleanly stopped cluster), and started again.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from medz1.auth import users
from medz1.auth.config import AuthConfig
from medz1.auth.login import login
from medz1.cli.main import run
from medz1.clinical.load import load, prepare
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer, binary
from medz1.ops.up import up
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP, AUDITOR, LOADER, REPORTING
from tests.plugins.auth import PASSWORD, cheap_hasher, report

pytestmark = [
    pytest.mark.db,
    pytest.mark.slow,
    pytest.mark.embedded_only("kills the bundled server"),
]

CYCLES = 5
TABLE = "patient_allergy_reactions"
DATABASE = "medz1_crash"
EMAIL = "crash.test@va.example.org"
LOGIN_THREADS = 2
VERSIONS = 200  # more full files than the cycles can load


def version_rows(version: int) -> int:
    """Rows of load version ``version``: each version has its own count."""
    return 20_000 + version


def write_version(folder: Path, version: int) -> Path:
    """A full file of the table in which every row names its version."""
    rows = version_rows(version)
    path = folder / f"v{version}" / f"{TABLE}.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "allergy_sid": pa.array(range(rows), pa.int64()),
                "patient_key": [f"ICN{100001 + i % 50}" for i in range(rows)],
                "reaction_name": [f"V{version}"] * rows,
            }
        ),
        path,
    )
    return path


@dataclass
class Acknowledged:
    """What the server confirmed as committed, as the writer threads saw it."""

    sessions: list[uuid.UUID] = field(default_factory=list)
    version: int = 0
    loads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def login_loop(engine: Engine, acked: Acknowledged, stop: threading.Event) -> None:
    """Log in until the server dies; record each session whose commit was acknowledged."""
    hasher, config = cheap_hasher(), AuthConfig()
    while not stop.is_set():
        try:
            result = login(
                engine,
                email=EMAIL,
                password=PASSWORD,
                ip="127.0.0.1",
                user_agent="crash-test",
                now=datetime.now(UTC),
                hasher=hasher,
                config=config,
            )
        except Exception:  # noqa: BLE001 - the server was killed: this writer is done
            return
        with acked.lock:  # login() returned, so its transaction committed
            acked.sessions.append(result.session_id)


def load_loop(engine: Engine, files: dict[int, Path], acked: Acknowledged) -> None:
    """Load one full version after another until the server dies."""
    while acked.version + 1 in files:
        version = acked.version + 1
        try:
            load(engine, prepare(files[version]))
        except Exception:  # noqa: BLE001 - the server was killed: this writer is done
            return
        with acked.lock:
            acked.version = version
            acked.loads += 1


def kill_postmaster(server: EmbeddedServer) -> None:
    """SIGKILL the postmaster, then wait for its backends (a crash takes them all)."""
    pid = server.status().pid
    assert pid is not None
    postmaster = psutil.Process(pid)
    children = postmaster.children(recursive=True)
    postmaster.kill()
    postmaster.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=10)


def pg_checksums(server: EmbeddedServer) -> subprocess.CompletedProcess[str]:
    """``pg_checksums --check`` on the stopped cluster, as the server's OS user."""
    return subprocess.run(  # noqa: S603 - the bundled program, arguments built here
        [str(binary("pg_checksums")), "--check", "-D", str(server.pgdata)],
        capture_output=True,
        text=True,
        check=False,
        user=server.os_user,
        group=server.os_user,
        extra_groups=[] if server.os_user is not None else None,
    )


def audit_verify_code(
    server: EmbeddedServer, role_plan: RolePlan, monkeypatch: pytest.MonkeyPatch
) -> int:
    """Exit code of ``medz1 audit verify`` on the test's server."""
    url = server.url(DATABASE, user=SUPERUSER).set(drivername="postgresql")
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url.render_as_string(hide_password=False))
    for role, alias in ((APP, "APP"), (REPORTING, "REPORTING"), (LOADER, "LOADER")):
        monkeypatch.setenv(f"MEDZ1_{alias}_PASSWORD", role_plan.passwords[role].get_secret_value())
    monkeypatch.setenv("MEDZ1_AUDITOR_PASSWORD", role_plan.passwords[AUDITOR].get_secret_value())
    with pytest.raises(SystemExit) as exited:
        run(["audit", "verify"])
    return int(exited.value.code or 0)


@pytest.fixture
def crash_server(
    server_folder: Path, role_plan: RolePlan
) -> Iterator[tuple[EmbeddedServer, Target]]:
    """A server of this test's own with a migrated medz1 database and one user."""
    server = EmbeddedServer(server_folder / "data")
    server.start()
    try:
        target = Target(url=server.url(DATABASE, user=SUPERUSER), embedded=True)
        up(target, role_plan)
        app = engine_for_role(target, "app", role_plan.passwords)
        with unit_of_work(app) as session:
            users.create_user(
                session,
                user=users.NewUser(email=EMAIL),
                password=PASSWORD,
                hasher=cheap_hasher(),
                now=datetime.now(UTC),
            )
        app.dispose()
        yield server, target
    finally:
        server.stop()


def _cycle(
    target: Target,
    role_plan: RolePlan,
    files: dict[int, Path],
    acked: Acknowledged,
    server: EmbeddedServer,
) -> tuple[int, int]:
    """Write under load, kill the postmaster mid-write; return (logins, loads) acknowledged."""
    app = engine_for_role(target, "app", role_plan.passwords)
    loader = engine_for_role(target, "loader", role_plan.passwords)
    stop = threading.Event()
    sessions_before, loads_before = len(acked.sessions), acked.loads
    threads = [
        threading.Thread(target=login_loop, args=(app, acked, stop)) for _ in range(LOGIN_THREADS)
    ]
    threads.append(threading.Thread(target=load_loop, args=(loader, files, acked)))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        acked.loads == loads_before or len(acked.sessions) == sessions_before
    ):
        time.sleep(0.05)
    time.sleep(random.uniform(0.05, 0.4))  # kill at an unplanned moment
    kill_postmaster(server)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    app.dispose()
    loader.dispose()
    return len(acked.sessions) - sessions_before, acked.loads - loads_before


def test_kill_9_under_write_load_loses_no_acknowledged_commit(
    crash_server: tuple[EmbeddedServer, Target],
    role_plan: RolePlan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, target = crash_server
    files = {v: write_version(tmp_path, v) for v in range(1, VERSIONS)}
    acked = Acknowledged()
    in_flight_kept = 0
    for _ in range(CYCLES):
        logins, loads = _cycle(target, role_plan, files, acked, server)
        assert logins > 0
        assert loads > 0  # both kinds of write were running when the server was killed
        server.start()  # crash recovery
        admin = make_engine(target.url)
        with admin.connect() as conn:
            stored = set(conn.execute(text("SELECT session_id FROM auth.sessions")).scalars())
            found = conn.execute(
                text(f"SELECT count(*), min(reaction_name), max(reaction_name) FROM {TABLE}")
            ).one()
        admin.dispose()
        lost = [s for s in acked.sessions if s not in stored]
        assert lost == []
        rows, first, last = found
        assert first == last  # one version only: never a mix of two loads
        version = int(str(first).removeprefix("V"))
        assert version in (acked.version, acked.version + 1)  # acknowledged, or the one in flight
        assert rows == version_rows(version)  # the whole file, never a part
        in_flight_kept += version - acked.version
        acked.version = version
        assert audit_verify_code(server, role_plan, monkeypatch) == 0
        server.stop()
        checked = pg_checksums(server)
        assert checked.returncode == 0, checked.stderr
        assert "Bad checksums:  0" in checked.stdout
        server.start()
    report(
        f"S28: {CYCLES} kill -9 cycles, {len(acked.sessions)} acknowledged logins and "
        f"{acked.loads} acknowledged loads of {version_rows(1):,}+ rows: 0 lost, 0 partial, "
        f"0 bad checksums; {in_flight_kept} unacknowledged load(s) found committed"
    )
