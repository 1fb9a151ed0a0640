"""``medz1 load`` exits 2 for options that cannot work and 8 for data it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Invoke

HEADER = "allergy_sid,patient_key,reaction_name\n"


@pytest.fixture
def reactions_csv(tmp_path: Path) -> Path:
    path = tmp_path / "patient_allergy_reactions.csv"
    path.write_text(HEADER + "1,ICN1,HIVES\n")
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--assume-timezone", "America/Springfield"], "not a known time zone"),
        (["--encoding", "bogus"], "not a text encoding"),
        (["--delimiter", ";;"], "one ASCII character"),
        (["--delimiter", '"'], "quote character"),
    ],
)
def test_options_that_cannot_work_exit_2(
    cli: Invoke, reactions_csv: Path, options: list[str], message: str
) -> None:
    result = cli("load", str(reactions_csv), *options)
    assert result.code == 2
    assert message in result.err


def test_refused_data_exits_8_naming_row_and_column_not_the_cells(
    cli: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "patient_allergy_reactions.csv"
    path.write_text(HEADER + "1,ICN1,HIVES\n2,ICN7,RASH,EXTRA\n")
    result = cli("load", str(path))
    assert result.code == 8
    assert "patient_allergy_reactions.csv" in result.err
    assert "row 2" in result.err
    assert "ICN7" not in result.err
    assert "RASH" not in result.err
