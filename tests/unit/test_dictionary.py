"""The checked-in data dictionary is what the models generate."""

from __future__ import annotations

from pathlib import Path

from medz1.models import metadata
from medz1.ops.dictionary import render

DICTIONARY = Path(__file__).parents[2] / "docs" / "data-dictionary.md"


def test_data_dictionary_is_up_to_date() -> None:
    assert DICTIONARY.read_text(encoding="utf-8") == render(metadata), (
        "docs/data-dictionary.md is stale: run `medz1 docs dictionary --out docs/data-dictionary.md`"
    )


def test_dictionary_documents_every_table() -> None:
    text = render(metadata)
    for table in metadata.tables.values():
        assert f"### {table.schema}.{table.name}" in text
