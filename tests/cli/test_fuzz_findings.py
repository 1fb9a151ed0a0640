"""Faults the command-line fuzzing found in docs, users and schema, one test per kind."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.cli.conftest import Invoke

NOWHERE = "postgresql://medz1:secret@127.0.0.1:1/medz1?connect_timeout=2"


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """A database URL where nothing listens: a command that connects would exit 3."""
    monkeypatch.setenv("MEDZ1_DATABASE_URL", NOWHERE)


def _file(tmp_path: Path) -> str:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return str(blocker / "dictionary.md")


@pytest.mark.parametrize("out", ["/", "/nonexistent-medz1/dictionary.md", "FOLDER", "UNDER_A_FILE"])
def test_docs_dictionary_to_an_unwritable_path_is_refused(
    cli: Invoke, tmp_path: Path, out: str
) -> None:
    path = {"FOLDER": str(tmp_path), "UNDER_A_FILE": _file(tmp_path)}.get(out, out)
    result = cli("docs", "dictionary", "--out", path)
    assert result.code == 2
    assert result.err.startswith("error: cannot write")
    assert "hint:" in result.err


@pytest.mark.parametrize("content", ["FOLDER", b"\xff\xfe not utf-8"])
def test_docs_dictionary_check_of_an_unreadable_file_is_refused(
    cli: Invoke, tmp_path: Path, content: str | bytes
) -> None:
    path = tmp_path
    if isinstance(content, bytes):
        path = tmp_path / "dictionary.md"
        path.write_bytes(content)
    result = cli("docs", "dictionary", "--check", "--out", str(path))
    assert result.code == 2
    assert result.err.startswith("error: cannot read")


def test_docs_dictionary_check_without_out_is_refused(cli: Invoke) -> None:
    result = cli("docs", "dictionary", "--check")
    assert result.code == 2
    assert "--out" in result.err


def test_docs_dictionary_prints_a_path_with_brackets_as_it_is(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "[bold]x[red].md"
    result = cli("docs", "dictionary", "--out", str(path))
    assert result.code == 0
    assert str(path) in result.out
    assert path.is_file()


@pytest.mark.parametrize(
    "command", [("users", "add", "a@va.example.org"), ("users", "set-password", "a@va.example.org")]
)
def test_password_prompt_without_a_terminal_names_password_stdin(
    cli: Invoke, no_database: None, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("typed-but-not-a-terminal\n"))
    result = cli(*command)
    assert result.code == 2
    assert result.err.startswith("error: no terminal")
    assert "--password-stdin" in result.err


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("patient\x00vitals", 2),
        ("auth.us\x1bers", 2),
        ("", 2),
        ("auth.", 2),
        (".users", 2),
        ("x" * 64, 2),
        ("é" * 32, 2),  # 64 bytes of UTF-8
        ("\udcff", 2),  # an argument that was not UTF-8
        ("pg_catalog.pg_authid", 6),
        ("a.b.c", 6),
    ],
)
def test_schema_describe_refuses_a_bad_name_before_connecting(
    cli: Invoke, no_database: None, name: str, code: int
) -> None:
    result = cli("schema", "describe", name)
    assert result.code == code
    assert result.err.startswith("error: ")
    assert "SELECT" not in result.err  # no statement, no parameters


def test_schema_describe_shows_catalog_text_with_brackets_as_it_is(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("COMMENT ON TABLE auth.sessions IS 'tokens [/] [bold]hashed'")
    result = cli("schema", "describe", "auth.sessions")
    assert result.code == 0
    assert "tokens [/] [bold]hashed" in result.out
