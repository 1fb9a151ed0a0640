"""No secret is ever logged or stored in clear (S20).

Sentinel passwords and tokens go through create, login, validate, change, logout and the
command line while the server logs every statement with its parameters and Python logs
everything at DEBUG; then every row of every table, the Python log, the captured output
and the server log are searched for them.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medz1.auth import sessions, users
from medz1.cli import main
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from tests.plugins.auth import Store, open_store, report

pytestmark = pytest.mark.db

TAG = secrets.token_hex(4)
SENTINELS = {
    "first": f"sentinel first passphrase {TAG}",
    "second": f"sentinel second passphrase {TAG}",
    "cli": f"sentinel cli passphrase {TAG}",
    "cli-reset": f"sentinel cli reset phrase {TAG}",
    "wrong": f"sentinel wrong passphrase {TAG}",
}


@pytest.fixture
def logged_store(db_target: Target, role_plan: RolePlan, engine: Engine) -> Iterator[Store]:
    with engine.connect() as conn:
        # The bundled server logs no statement and no parameter (embedded.py); this
        # database logs every statement with its parameters, so the haystack holds them.
        for setting in (
            "log_statement = 'all'",
            "log_parameter_max_length = -1",
            "log_error_verbosity = 'default'",
        ):
            conn.execute(text(f'ALTER DATABASE "{db_target.database}" SET {setting}'))
        conn.commit()
    with open_store(db_target, role_plan) as opened:
        yield opened


def _all_rows(engine: Engine) -> str:
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                "WHERE schemaname IN ('public', 'auth', 'ai', 'admin')"
            )
        ).scalars()
        return "\n".join(
            str(row)
            for table in list(tables)
            for row in conn.execute(text(f"SELECT t::text FROM {table} t")).scalars()
        )


def _exercise_library(store: Store) -> list[str]:
    user = store.create_user(password=SENTINELS["first"])
    store.attempt(user.email, SENTINELS["wrong"])
    first = store.attempt(user.email, SENTINELS["first"]).unwrap()
    with unit_of_work(store.app) as session:
        sessions.validate(session, token=first.token, now=store.now, config=store.config).require()
    with unit_of_work(store.app) as session:
        issued = users.change_password(
            session,
            user_id=user.user_id,
            current_password=SENTINELS["first"],
            new_password=SENTINELS["second"],
            hasher=store.hasher,
            now=store.now,
            config=store.config,
        )
    second = store.attempt(user.email, SENTINELS["second"]).unwrap()
    with unit_of_work(store.app) as session:
        sessions.logout(session, token=second.token, now=store.now)
    return [first.token, issued.token, second.token]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main.run(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def _exercise_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    results = []
    for stdin, args, code in (
        (SENTINELS["cli"], ("--verbose", "users", "add", "cli@va.example.org"), 0),
        (SENTINELS["cli-reset"], ("users", "set-password", "cli@va.example.org"), 0),
        ("short", ("users", "set-password", "cli@va.example.org"), 8),
    ):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin + "\n"))
        results.append(_cli(capsys, *args, "--password-stdin"))
        assert results[-1][0] == code
    return "".join(output for _, output in results)


@pytest.mark.embedded_only("logs every statement (log_statement, a superuser parameter)")
@pytest.mark.server_log
def test_sentinel_passwords_and_tokens_appear_nowhere(
    logged_store: Store,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    pg_server: EmbeddedServer,
    cheap_hashing: None,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine_log = logging.getLogger("sqlalchemy.engine")
    previous = engine_log.level
    engine_log.setLevel(logging.DEBUG)  # statements with their parameters
    try:
        tokens = _exercise_library(logged_store)
        before = capsys.readouterr()
        cli_output = before.out + before.err + _exercise_cli(capsys, monkeypatch)
    finally:
        engine_log.setLevel(previous)
    captured = capsys.readouterr()
    server_log = Path(pg_server.log_file).read_text(encoding="utf-8", errors="replace")
    # The haystacks hold what they should: statements with their parameters.
    assert "$argon2id$" in server_log
    assert "INSERT INTO auth.sessions" in caplog.text
    haystacks = {
        "tables": _all_rows(logged_store.admin),
        "python log": caplog.text,
        "output": cli_output + captured.out + captured.err,
        "server log": server_log,
    }
    needles = [*SENTINELS.values(), *tokens, *(t.encode().hex() for t in tokens)]
    hits = [(where, n[:12]) for where, hay in haystacks.items() for n in needles if n in hay]
    report(f"S20: {len(needles)} sentinels x {len(haystacks)} places searched, {len(hits)} hits")
    assert hits == []
