"""S32: random command lines drawn from the real command tree never end in a traceback or
an undocumented exit code, and a refused command changes no table.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke
from tests.fuzz.budget import DOCUMENTED_CODES, FAST, FULL, Drawn, fuzz_settings
from tests.fuzz.strategies import COMMANDS, Command, argv

#: ``audit export`` once wrote to any path it was given (a folder ended in exit 1); it is
#: also fuzzed on its own below, with that input first.
AUDIT_EXPORT = ("audit", "export")
CHECKED = list(COMMANDS)

#: An address where nothing listens: every command that needs the database fails to
#: connect at once (exit 3), and nothing starts a server of its own.
NOWHERE = "postgresql://medz1:secret@127.0.0.1:1/medz1?connect_timeout=2"

#: Role passwords, so commands get past "no password is known" to their real work.
ROLE_PASSWORDS = {
    f"MEDZ1_{role}_PASSWORD": f"fuzz-{role.lower()}-password-0123"
    for role in ("APP", "REPORTING", "LOADER", "AUDITOR")
}


@contextmanager
def stdin(content: str) -> Iterator[None]:
    """``sys.stdin`` holding ``content`` (for --password-stdin) for one command."""
    saved = sys.stdin
    sys.stdin = io.StringIO(content)
    try:
        yield
    finally:
        sys.stdin = saved


def assert_clean(code: int, out: str, err: str, args: list[str]) -> None:
    """A documented exit code and no stack trace, whatever the command line."""
    assert "Traceback" not in out + err, (args, err[-2000:])
    assert code in DOCUMENTED_CODES, (args, code, err[-2000:])


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cheap_hashing: None) -> Path:
    """Run in an empty folder (commands write relative --out paths there), fast argon2."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def nowhere(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No database, but role passwords known, so commands go as far as connecting."""
    monkeypatch.setenv("MEDZ1_DATABASE_URL", NOWHERE)
    for key, value in ROLE_PASSWORDS.items():
        monkeypatch.setenv(key, value)


def _fuzz_argv_without_database(
    cli: Invoke, examples: int, commands: list[Command], *, first: list[str] | None = None
) -> None:
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(args=argv(commands), password=st.text(max_size=30))
    def check(args: list[str], password: str) -> None:
        drawn()
        with stdin(password + "\n"):
            result = cli(*args)
        assert_clean(result.code, result.out, result.err, args)

    if first is not None:  # an input known to have failed is always tried first
        check = example(args=first, password="")(check)
    check()
    assert drawn.count >= examples


def test_fuzzed_command_lines_exit_with_documented_codes(cli: Invoke, nowhere: None) -> None:
    _fuzz_argv_without_database(cli, FAST["argv"], CHECKED)


@pytest.mark.slow
def test_fuzzed_command_lines_exit_with_documented_codes_full(cli: Invoke, nowhere: None) -> None:
    _fuzz_argv_without_database(cli, FULL["argv"], CHECKED)


def test_fuzzed_audit_export_lines_exit_with_documented_codes(cli: Invoke, nowhere: None) -> None:
    export = [c for c in COMMANDS if c.path == AUDIT_EXPORT]
    _fuzz_argv_without_database(
        cli, FAST["argv"] // 3, export, first=["audit", "export", "--out", ""]
    )


# -- against a real database --------------------------------------------------------------

#: Commands run against the test database: everything that reads, or that refuses without
#: --yes; commands that rewrite the schema, roles or grants are left to their own tests.
_DB_GROUPS = {"schema", "users", "sessions", "audit", "patients", "docs"}
_DB_GROUPS |= {"flags", "settings", "prefs"}
_DB_LEAVES = {("migrate", "current"), ("migrate", "history"), ("check",), ("grants", "check")}
_DB_LEAVES |= {("grants", "show"), ("backup", "list"), ("backup", "verify")}
DB_COMMANDS = [
    c
    for c in CHECKED
    if (c.path[0] in _DB_GROUPS or c.path in _DB_LEAVES)
    and c.path not in {("audit", "purge"), ("users", "delete")}
]
#: Commands that once failed on these inputs (a NUL reached the driver, a number out of
#: range reached the server); fuzzed on their own with those inputs first.
REPORTED_DB = [c for c in COMMANDS if c.path[0] == "patients" or c.path == ("audit", "tail")]
REPORTED_DB_INPUTS = [
    ["patients", "show", "\x00"],
    ["patients", "search", "\x00"],
    ["patients", "search", "a", "--offset", "9999999999999999999"],
    ["audit", "tail", "--event", "\x00"],
]


def digest(engine: Engine) -> dict[str, str]:
    """MD5 of every table's rows in medz1's schemas, in a fixed order."""
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                "WHERE schemaname IN ('public', 'auth', 'ai', 'admin') ORDER BY 1"
            )
        ).scalars()
        return {
            table: str(
                conn.execute(
                    text(
                        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                        f"FROM {table} t"
                    )
                ).scalar_one()
            )
            for table in list(tables)
        }


def _fuzz_argv_with_database(
    cli: Invoke,
    engine: Engine,
    examples: int,
    commands: list[Command],
    *,
    first: Sequence[list[str]] = (),
) -> None:
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(args=argv(commands), password=st.text(max_size=30))
    def check(args: list[str], password: str) -> None:
        drawn()
        before = digest(engine)
        with stdin(password + "\n"):
            result = cli(*args)
        assert_clean(result.code, result.out, result.err, args)
        if result.code != 0:
            assert digest(engine) == before, args

    for known in first:  # inputs known to have failed are always tried first
        check = example(args=known, password="")(check)
    check()
    assert drawn.count >= examples


def test_fuzzed_command_lines_on_a_database_change_nothing_when_refused(
    cli: Invoke, scratch: Path, engine: Engine, database_url_env: str
) -> None:
    _fuzz_argv_with_database(cli, engine, FAST["argv_db"], DB_COMMANDS)


@pytest.mark.slow
def test_fuzzed_command_lines_on_a_database_change_nothing_when_refused_full(
    cli: Invoke, scratch: Path, engine: Engine, database_url_env: str
) -> None:
    _fuzz_argv_with_database(cli, engine, FULL["argv_db"], DB_COMMANDS)


def test_fuzzed_reported_command_lines_on_a_database_change_nothing_when_refused(
    cli: Invoke, scratch: Path, engine: Engine, database_url_env: str
) -> None:
    _fuzz_argv_with_database(cli, engine, FAST["argv_db"], REPORTED_DB, first=REPORTED_DB_INPUTS)
