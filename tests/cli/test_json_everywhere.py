"""``--json`` on every command that produces a result, found by walking the real application.

A command without ``--json`` must be named in :data:`WITHOUT_JSON` with the reason, so a new
command cannot quietly leave it out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from medz1.cli.main import app
from tests.cli.conftest import Invoke

#: Commands whose output is not a result a script would parse, and why.
WITHOUT_JSON = {
    "psql": "hands the terminal to psql",
    "serve": "runs the service until stopped",
    "audit export": "its output is already JSON lines",
}


def _commands() -> Iterator[tuple[str, Any]]:
    root: Any = typer.main.get_command(app)
    ctx = root.make_context("medz1", [], resilient_parsing=True)

    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(root, [])


def test_every_command_that_produces_a_result_takes_json() -> None:
    found = dict(_commands())
    assert set(WITHOUT_JSON) <= set(found)
    lacking = sorted(
        name
        for name, command in found.items()
        if name not in WITHOUT_JSON
        and not any("--json" in getattr(p, "opts", ()) for p in command.params)
    )
    assert lacking == []


def test_docs_dictionary_prints_json_whether_it_wrote_or_not(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dictionary.md"
    wrote = cli("docs", "dictionary", "--out", str(path), "--json")
    assert wrote.code == 0, wrote.err
    assert json.loads(wrote.out) == {"path": str(path), "changed": True}
    again = cli("docs", "dictionary", "--out", str(path), "--check", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out) == {"path": str(path), "changed": False}
    printed = json.loads(cli("docs", "dictionary", "--json").out)
    assert printed["markdown"] == path.read_text(encoding="utf-8")
