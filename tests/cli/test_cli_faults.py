"""Faults a new user found: one error line, documented exit codes, options that agree."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medz1.clinical.arrow_types import arrow_schema
from medz1.clinical.contract import clinical_table
from tests.cli.conftest import Invoke


def _not_csv(tmp_path: Path, kind: str) -> Path:
    """Random bytes, or a Parquet file, named .csv."""
    path = tmp_path / "patient_vitals.csv"
    if kind == "parquet":
        pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), path)
    else:
        path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(4000)))
    return path


@pytest.mark.parametrize("kind", ["random", "parquet"])
@pytest.mark.parametrize("command", [("load",), ("ai", "load-interactions")])
def test_a_file_that_is_not_csv_gives_one_error_line_and_no_traceback(
    cli: Invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    command: tuple[str, ...],
) -> None:
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    result = cli(*command, str(_not_csv(tmp_path, kind)))
    assert result.code == 8
    assert ignored == []
    assert result.err.startswith("error: ")
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [("load",), ("ai", "load-interactions")])
def test_a_missing_file_is_reported_as_missing_not_as_a_bad_format(
    cli: Invoke, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = cli(*command, str(tmp_path / "nowhere"))
    assert result.code == 6
    assert "does not exist" in result.err


def test_an_empty_interaction_file_hints_no_option_the_command_lacks(
    cli: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "ddi.csv"
    path.write_text("drug_a,drug_b\n")
    result = cli("ai", "load-interactions", str(path))
    assert result.code == 8
    assert "--allow-empty" not in result.err


def test_an_empty_file_upserted_changes_nothing_and_is_not_refused(
    cli: Invoke, database_url_env: str, tmp_path: Path
) -> None:
    path = tmp_path / "patient_vitals.csv"
    path.write_text(",".join(arrow_schema(clinical_table("patient_vitals")).names) + "\n")
    result = cli("load", str(path), "--mode", "upsert", "--json")
    assert result.code == 0, result.err
    assert "would empty" not in result.err


@pytest.mark.parametrize(
    "argv",
    [
        ("demo", "generate", "--patients", "2", "--seed", "-5"),
        ("demo", "generate", "--patients", "2", "--seed", str(2**64)),
        ("audit", "tail", "-n", "-1"),
        ("audit", "tail", "-n", str(2**64)),
        ("audit", "purge", "--yes", "--days", "-1"),
        ("audit", "purge", "--yes", "--days", str(2**64)),
        ("patients", "search", "X", "--offset", "99999999999999999999"),
        ("patients", "search", "X", "--offset", "-1"),
        ("backup", "restore", "x", "--discard-newer-audit-rows", str(2**64)),
    ],
)
def test_a_numeric_option_out_of_range_is_a_usage_error(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(*argv)
    assert result.code == 2
    assert "unexpected" not in result.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ("settings", "set", "patients.search_page_size", "-5"),
        ("settings", "set", "patients.search_page_size", "-0.1"),
        ("prefs", "set", "neg@va.example.org", "patients.list_size", "-5"),
    ],
)
def test_set_takes_a_negative_number_as_its_value(
    cli: Invoke,
    database_url_env: str,
    cheap_hashing: None,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("quiet harbor lamp at dawn\n"))
    assert cli("users", "add", "neg@va.example.org", "--password-stdin").code == 0
    result = cli(*argv)
    assert "no such option" not in result.err
    assert result.code == 8  # refused by the setting's type or range, as a value


def test_flags_set_refuses_on_and_off_together(cli: Invoke, database_url_env: str) -> None:
    result = cli("flags", "set", "new.flag", "--on", "--off")
    assert result.code == 2
    assert "contradict" in result.err
    assert cli("flags", "show", "new.flag").code == 6


@pytest.mark.parametrize(
    "argv",
    [
        ("ai", "search", "x", "--station", "abc"),
        ("patients", "search", "X", "--station", "abc"),
        ("flags", "show", "some.flag", "--station", "abc"),
        ("users", "add", "a@va.example.org", "--station", "abc", "--password-stdin"),
    ],
)
def test_every_station_option_refuses_a_bad_station_the_same_way(
    cli: Invoke, argv: tuple[str, ...]
) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert "the station is not a VA station number" in result.err


def test_users_add_with_a_division_says_a_home_station_is_a_facility(cli: Invoke) -> None:
    result = cli("users", "add", "a@va.example.org", "--station", "508A4", "--password-stdin")
    assert result.code == 2
    assert "3-digit sta3n" in result.err
    assert "--station 508" in result.err
