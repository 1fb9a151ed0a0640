"""``medz1 patients search``: a page of matches says how many patients matched in all."""

from __future__ import annotations

import json
import re

from tests.cli.conftest import Invoke
from tests.cli.test_patients_cli import demo_target, patients_cli

__all__ = ["demo_target", "patients_cli"]  # fixtures shared with the show/search tests


def common_initial(patients_cli: Invoke) -> tuple[str, int]:
    """A last-name initial that at least three demo patients share, and how many do."""
    counts = {
        letter: len(json.loads(patients_cli("patients", "search", letter, "--json").out))
        for letter in "abcdefghijklmnopqrstuvwxyz"
    }
    letter = max(counts, key=lambda c: counts[c])
    assert counts[letter] >= 3
    return letter, counts[letter]


def test_search_with_a_small_limit_says_how_many_matched_in_all(patients_cli: Invoke) -> None:
    letter, matches = common_initial(patients_cli)
    result = patients_cli("patients", "search", letter, "--limit", "2")
    assert result.code == 0
    assert re.search(rf"\b1-2 of {matches} matching patient", result.err)  # stdout: rows


def test_search_past_the_last_page_still_counts_the_matches(patients_cli: Invoke) -> None:
    letter, matches = common_initial(patients_cli)
    result = patients_cli("patients", "search", letter, "--offset", "999")
    assert result.code == 0
    assert f"{matches} patient(s) match; none past offset 999" in result.err
