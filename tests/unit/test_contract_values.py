"""What a refusal may show of a cell, and which JSON PostgreSQL's jsonb accepts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from medz1.clinical.problems import shown
from medz1.clinical.values import valid_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.345", "'12.345'"),
        ("2024-01-02T03:04:05Z", "'2024-01-02T03:04:05Z'"),
        (Decimal("0.125"), "0.125"),
        (date(2024, 1, 2), "2024-01-02"),
        ("SMITH", None),
        ("123-45-6789", None),
        ("555-1234", None),
        ("1.5e+20", "'1.5e+20'"),
        ("2024-01-02 03:04:05.1234567+01:00", "'2024-01-02 03:04:05.1234567+01:00'"),
        ("nine", None),
        (b"\xff", None),
        ("1" * 41, None),
    ],
)
def test_only_short_numbers_and_times_are_shown(value: Any, expected: str | None) -> None:
    assert shown(value) == expected


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ('{"a": [1, 2.5, "x", null, true]}', True),
        ("  3  ", True),
        ('{"a": NaN}', False),
        ("[Infinity]", False),
        ('"\\u0000"', False),
        ('"\\ud800"', False),
        ("{'a': 1}", False),
        ("", False),
    ],
)
def test_json_is_valid_as_jsonb_reads_it(text: str, valid: bool) -> None:
    assert valid_json(text) is valid
