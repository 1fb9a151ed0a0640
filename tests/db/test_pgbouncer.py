"""The application's engine behind PgBouncer in transaction mode (``MEDZ1_POOLER_URL``).

Runs Debian's ``pgbouncer`` when it is installed (skipped otherwise) in front of the test
server, with fewer server connections than clients, so consecutive transactions of one
client run on different server connections. Logins and scoped chart reads from several
threads must all succeed (no server-side prepared statement is needed across
transactions) and see only their station (no station setting outlives its transaction).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.auth import login as login_mod
from medz1.auth import users
from medz1.auth.config import AuthConfig
from medz1.dal.chart import patient_chart
from medz1.dal.session import Scope, read_session
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.connect import application_engine_at
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP
from tests.plugins.auth import PASSWORD, cheap_hasher
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None
)
THREADS = 4
READS = 8  # per thread: more than psycopg's prepare threshold (5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def scoped_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("pgbouncer-data")
    with synthetic_database(
        pg_server, role_plan, folder, patients=30, seed=6, station_scoping=True
    ) as target:
        yield target


@pytest.fixture(scope="module")
def pooler_url(scoped_target: Target, role_plan: RolePlan) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the test database; its URL."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed")
    folder = Path(tempfile.mkdtemp(prefix="medz1-pgbouncer-"))
    port = _free_port()
    database = scoped_target.database
    query = scoped_target.url.query
    # The bundled server is reached on its socket (host in the query), a managed-style or
    # external one over TCP.
    host = scoped_target.url.host or query["host"]
    server_port = scoped_target.url.port or query["port"]
    password = role_plan.passwords[APP].get_secret_value()
    (folder / "users.txt").write_text(f'"{APP}" "{password}"\n', encoding="utf-8")
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{database} = host={host} port={server_port} dbname={database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 50\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits\n",
        encoding="utf-8",
    )
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        owner = pwd.getpwnam("embedded_postgres")
        for path in (folder, *folder.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command[1:1] = ["-u", "embedded_postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("pgbouncer did not start")
                time.sleep(0.05)
        yield f"postgresql://127.0.0.1:{port}/{database}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pooled(scoped_target: Target, role_plan: RolePlan, pooler_url: str) -> Iterator[Engine]:
    engine = application_engine_at(
        scoped_target, role_plan.passwords, pooler_url, pool_size=THREADS
    )
    yield engine
    engine.dispose()


def _patients(target: Target) -> dict[str, list[str]]:
    admin = make_engine(target.url)
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT primary_station, array_agg(patient_key ORDER BY patient_key) "
                    "FROM patient_demographics GROUP BY 1 ORDER BY count(*) DESC"
                )
            )
            return {str(s): list(keys) for s, keys in rows}
    finally:
        admin.dispose()


def test_logins_and_chart_reads_from_threads_through_pgbouncer(
    scoped_target: Target, pooled: Engine
) -> None:
    by_station = _patients(scoped_target)
    stations = list(by_station)[:THREADS]
    hasher = cheap_hasher()
    config = AuthConfig()
    now = datetime.now(UTC)
    emails = {}
    with unit_of_work(pooled) as db:
        for station in stations:
            email = f"clinician-{uuid.uuid4().hex[:8]}@va.example.org"
            users.create_user(
                db,
                user=users.NewUser(email=email, home_site_sta3n=int(station)),
                password=PASSWORD,
                hasher=hasher,
                now=now,
            )
            emails[station] = email
    failures: list[BaseException] = []
    reads = [0]
    lock = threading.Lock()

    def clinician(station: str) -> None:
        try:
            session = login_mod.login(
                pooled,
                email=emails[station],
                password=PASSWORD,
                ip="10.0.0.2",
                user_agent="pytest",
                now=now,
                hasher=hasher,
                config=config,
            )
            scope = Scope.of_user(int(station), session.session_id)
            own = by_station[station]
            foreign = next(k for s, ks in by_station.items() if s != station for k in ks)
            for n in range(READS):
                key = own[n % len(own)]
                with read_session(pooled, scope.about(key)) as db:
                    found = patient_chart(db, patient_key=key)
                assert found is not None
                assert found.demographics.primary_station == station
                with read_session(pooled, scope.about(foreign)) as db:
                    assert patient_chart(db, patient_key=foreign) is None
                # A transaction without a scope, on whatever server connection it gets.
                with Session(pooled) as db:
                    count = db.execute(text("SELECT count(*) FROM patient_vitals")).scalar_one()
                    assert count == 0
                with lock:
                    reads[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=clinician, args=(s,)) for s in stations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[0]
    assert reads[0] == THREADS * READS


def test_a_read_on_another_server_connection_needs_no_prepared_statement(
    scoped_target: Target, role_plan: RolePlan, pooler_url: str
) -> None:
    by_station = _patients(scoped_target)
    station, keys = next(iter(by_station.items()))
    scope = Scope(station, uuid.uuid4(), keys[0])
    first = application_engine_at(scoped_target, role_plan.passwords, pooler_url, pool_size=1)
    second = application_engine_at(scoped_target, role_plan.passwords, pooler_url, pool_size=1)
    try:
        for _ in range(READS):  # past psycopg's prepare threshold on this client
            with read_session(first, scope) as db:
                assert patient_chart(db, patient_key=keys[0]) is not None
        with second.connect() as holder:
            # The other client holds the server connection the first one used last ...
            holder.execute(text("SELECT 1"))
            # ... so the first client's next transaction runs on another one.
            with read_session(first, scope) as db:
                assert patient_chart(db, patient_key=keys[0]) is not None
            holder.rollback()
    finally:
        first.dispose()
        second.dispose()
