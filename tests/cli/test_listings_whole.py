"""Listings whose columns are built at run time keep every identifier whole in a terminal."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.conftest import Invoke

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.mark.parametrize("width", [80, 100])
def test_grants_show_never_cuts_an_object_or_a_role_in_a_terminal(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    matrix = json.loads(cli("grants", "show", "--json").out)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("grants", "show")
    assert result.code == 0, result.err
    shown = _ANSI.sub("", result.out)
    words = set(re.findall(r"[^\s│┃|]+", shown))
    grantees = {role for grants in matrix.values() for role in grants}
    assert set(matrix) <= words
    assert grantees <= words
    assert "…" not in shown
