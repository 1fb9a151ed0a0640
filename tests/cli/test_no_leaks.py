"""Sentinel patient values and a sentinel password go through every reachable error path and
come out nowhere: not on stdout or stderr, not in a log record, not in the raised error's
text, not in the bundled server's own log file.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.auth import sessions, users
from medz1.clinical.arrow_types import arrow_schema
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.errors import Medz1Error
from medz1.models import metadata
from tests.cli.conftest import Invoke
from tests.plugins.auth import PASSWORD, open_store

pytestmark = pytest.mark.db

LAST_NAME = "Quixotebergh"
SSN = "078051120"
SECRET = "Zebra-sentinel-Pw-47-xylophone"
HASH_MARK = "$argon2id$"
SENTINELS = (LAST_NAME, SSN, SECRET, HASH_MARK)


@dataclass
class Seen:
    """Everything one error path showed: output, and the text of the error it raised."""

    output: str = ""
    error: str = ""


Path_ = Callable[[pytest.FixtureRequest, Invoke, Path], Seen]


def _patient_file(folder: Path, *, deceased: str, rows: int = 1) -> Path:
    schema = arrow_schema(metadata.tables["public.patient_demographics"])
    values = {
        "patient_key": "ICN100001",
        "icn": "ICN100001",
        "ssn": SSN,
        "ssn_last4": SSN[-4:],
        "name_last": LAST_NAME,
        "deceased_flag": deceased,
    }
    table = pa.table({f.name: pa.array([values.get(f.name)] * rows, f.type) for f in schema})
    folder.mkdir()
    pq.write_table(table, folder / "patient_demographics.parquet")
    return folder


def _cli_run(cli: Invoke, *args: str) -> Seen:
    result = cli(*args)
    assert result.code != 0
    return Seen(output=result.out + result.err)


def _load_check_violation(r: pytest.FixtureRequest, cli: Invoke, tmp: Path) -> Seen:
    r.getfixturevalue("database_url_env")
    # deceased_flag 'X' breaks a CHECK that only the database knows: the server refuses the
    # row and its DETAIL quotes it whole.
    return _cli_run(cli, "load", str(_patient_file(tmp / "check", deceased="X")))


def _load_duplicate_key(r: pytest.FixtureRequest, cli: Invoke, tmp: Path) -> Seen:
    r.getfixturevalue("database_url_env")
    return _cli_run(cli, "load", str(_patient_file(tmp / "dup", deceased="N", rows=2)))


def _users_add_bad_input(r: pytest.FixtureRequest, cli: Invoke, _tmp: Path) -> Seen:
    r.getfixturevalue("database_url_env")
    monkeypatch: pytest.MonkeyPatch = r.getfixturevalue("monkeypatch")
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    return _cli_run(
        cli, "users", "add", f"{LAST_NAME} at va", "--last", LAST_NAME, "--password-stdin"
    )


def _users_add_twice(r: pytest.FixtureRequest, cli: Invoke, _tmp: Path) -> Seen:
    email = f"{LAST_NAME.lower()}@va.example.org"
    r.getfixturevalue("database_url_env")
    monkeypatch: pytest.MonkeyPatch = r.getfixturevalue("monkeypatch")
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    assert cli("users", "add", email, "--last", LAST_NAME, "--password-stdin").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    return _cli_run(cli, "users", "add", email.upper(), "--last", LAST_NAME, "--password-stdin")


def _wrong_login(r: pytest.FixtureRequest, _cli: Invoke, _tmp: Path) -> Seen:
    target: Target = r.getfixturevalue("db_target")
    with open_store(target, r.getfixturevalue("role_plan")) as store:
        user = store.create_user()
        with pytest.raises(Medz1Error) as raised:
            store.attempt(user.email, SECRET).unwrap()
    return Seen(error=str(raised.value))


def _expired_session(r: pytest.FixtureRequest, _cli: Invoke, _tmp: Path) -> Seen:
    target: Target = r.getfixturevalue("db_target")
    with open_store(target, r.getfixturevalue("role_plan")) as store:
        user = store.create_user()
        token = store.attempt(user.email, PASSWORD).unwrap().token
        store.tick(hours=9)
        with unit_of_work(store.app) as session:
            check = sessions.validate(session, token=token, now=store.now, config=store.config)
        with pytest.raises(Medz1Error) as raised:
            check.require()
    assert token not in str(raised.value)
    return Seen(error=str(raised.value))


def _backup_of_missing_database(r: pytest.FixtureRequest, cli: Invoke, _tmp: Path) -> Seen:
    server: EmbeddedServer = r.getfixturevalue("pg_server")
    monkeypatch: pytest.MonkeyPatch = r.getfixturevalue("monkeypatch")
    url = server.url("medz1_no_such_database", user="postgres", password=SECRET)
    monkeypatch.setenv(
        "MEDZ1_DATABASE_URL",
        url.set(drivername="postgresql").render_as_string(hide_password=False),
    )
    return _cli_run(cli, "backup", "create")


def _check_on_a_broken_database(r: pytest.FixtureRequest, cli: Invoke, _tmp: Path) -> Seen:
    target: Target = r.getfixturevalue("db_target")
    engine: Engine = r.getfixturevalue("engine")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE auth.sessions"))
    monkeypatch: pytest.MonkeyPatch = r.getfixturevalue("monkeypatch")
    url = target.url.set(drivername="postgresql", password=SECRET)
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url.render_as_string(hide_password=False))
    return _cli_run(cli, "check")


def _unique_violation_in_auth(r: pytest.FixtureRequest, _cli: Invoke, _tmp: Path) -> Seen:
    """Two creates of one address race: the second passes the look-up, then the unique
    index refuses its INSERT (23505), whose parameters hold the password hash.
    """
    target: Target = r.getfixturevalue("db_target")
    email = f"{LAST_NAME.lower()}.race@va.example.org"
    failures: list[BaseException] = []
    with open_store(target, r.getfixturevalue("role_plan")) as store:
        first = Session(store.app)
        users.create_user(
            first,
            user=users.NewUser(email=email, last_name=LAST_NAME),
            password=SECRET,
            hasher=store.hasher,
            now=store.now,
        )

        def second() -> None:
            try:
                with unit_of_work(store.app) as session:
                    users.create_user(
                        session,
                        user=users.NewUser(email=email, last_name=LAST_NAME),
                        password=SECRET,
                        hasher=store.hasher,
                        now=store.now,
                    )
            except Medz1Error as exc:
                failures.append(exc)

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(1.0)  # it waits on the first one's uncommitted row
        first.commit()
        first.close()
        racer.join(30)
    assert len(failures) == 1
    return Seen(error=str(failures[0]))


@pytest.fixture
def server_log(pg_server: EmbeddedServer) -> Callable[[], str]:
    """Text the bundled server appended to its own log file during the test."""
    start = pg_server.log_file.stat().st_size
    return lambda: pg_server.log_file.read_bytes()[start:].decode("utf-8", "replace")


@pytest.mark.server_log
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(_load_check_violation, id="load-check-violation"),
        pytest.param(_load_duplicate_key, id="load-duplicate-key"),
        pytest.param(_users_add_bad_input, id="users-add-bad-input"),
        pytest.param(_users_add_twice, id="users-add-existing"),
        pytest.param(_wrong_login, id="wrong-login"),
        pytest.param(_expired_session, id="expired-session"),
        pytest.param(_backup_of_missing_database, id="backup-of-missing-database"),
        pytest.param(_check_on_a_broken_database, id="check-on-a-broken-database"),
        pytest.param(_unique_violation_in_auth, id="unique-violation-in-auth"),
    ],
)
def test_sentinel_values_leak_nowhere(
    request: pytest.FixtureRequest,
    cli: Invoke,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    server_log: Callable[[], str],
    path: Path_,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = path(request, cli, tmp_path)
    records = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    logged = server_log()
    for sentinel in SENTINELS:
        assert sentinel not in seen.output, sentinel
        assert sentinel not in seen.error, sentinel
        assert sentinel not in records, sentinel
        assert sentinel not in logged, sentinel
