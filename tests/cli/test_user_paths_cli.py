"""Files and folders the user names: never an empty path, an existing file or a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medz1.errors import ConfigurationError
from medz1.settings import load_settings
from tests.cli.conftest import Invoke


def _victim(tmp_path: Path) -> Path:
    """A file some other program owns, readable by everyone."""
    victim = tmp_path / "victim.conf"
    victim.write_text("keep me\n")
    victim.chmod(0o644)
    return victim


@pytest.mark.parametrize(
    "argv",
    [
        ("audit", "export", "--out", ""),
        ("docs", "dictionary", "--out", ""),
        ("demo", "generate", "--patients", "1", "--out", ""),
        ("backup", "create", "--out", ""),
        ("replica", "create", "--data-dir", " "),
    ],
)
def test_an_empty_output_path_is_refused_not_taken_as_the_current_folder(
    cli: Invoke, argv: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(*argv)
    assert result.code == 2
    assert "is empty" in result.err
    assert list(tmp_path.iterdir()) == []


def test_audit_export_refuses_an_existing_file(cli: Invoke, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    result = cli("audit", "export", "--out", str(victim))
    assert result.code == 2
    assert "already exists" in result.err
    assert "--force" in result.err
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("force", [False, True])
def test_audit_export_never_writes_through_a_symbolic_link(
    cli: Invoke, tmp_path: Path, force: bool
) -> None:
    victim = _victim(tmp_path)
    link = tmp_path / "audit.jsonl"
    link.symlink_to(victim)
    result = cli("audit", "export", "--out", str(link), *(["--force"] if force else []))
    assert result.code == 2
    assert "symbolic link" in result.err
    assert victim.read_text() == "keep me\n"


def test_audit_export_force_replaces_a_file_with_a_new_private_one(
    cli: Invoke, database_url_env: str, tmp_path: Path
) -> None:
    victim = _victim(tmp_path)
    result = cli("audit", "export", "--out", str(victim), "--force")
    assert result.code == 0, result.err
    assert victim.read_text() != "keep me\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


def test_docs_dictionary_refuses_a_file_it_did_not_generate(cli: Invoke, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    result = cli("docs", "dictionary", "--out", str(victim))
    assert result.code == 2
    assert "--force" in result.err
    assert victim.read_text() == "keep me\n"
    assert cli("docs", "dictionary", "--out", str(victim), "--force").code == 0
    assert victim.read_text().startswith("# medz1 data dictionary")


def test_docs_dictionary_never_writes_through_a_symbolic_link(cli: Invoke, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    link = tmp_path / "dictionary.md"
    link.symlink_to(victim)
    result = cli("docs", "dictionary", "--out", str(link), "--force")
    assert result.code == 2
    assert "symbolic link" in result.err
    assert victim.read_text() == "keep me\n"


def test_demo_generate_refuses_to_replace_parquet_files_without_force(
    cli: Invoke, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    assert cli("demo", "generate", "--patients", "1", "--out", str(out)).code == 0
    before = (out / "patient_demographics.parquet").stat().st_ino
    again = cli("demo", "generate", "--patients", "1", "--out", str(out))
    assert again.code == 2
    assert "already exists" in again.err
    assert (out / "patient_demographics.parquet").stat().st_ino == before
    assert cli("demo", "generate", "--patients", "1", "--out", str(out), "--force").code == 0


@pytest.mark.parametrize("where", ["folder", "file"])
def test_demo_generate_never_writes_through_a_symbolic_link(
    cli: Invoke, tmp_path: Path, where: str
) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "demo"
    if where == "folder":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        out.symlink_to(elsewhere)
    else:
        out.mkdir()
        (out / "patient_vitals.parquet.partial").symlink_to(victim)
    result = cli("demo", "generate", "--patients", "1", "--out", str(out), "--force")
    assert result.code == 2
    assert "symbolic link" in result.err
    assert victim.read_text() == "keep me\n"


def test_backup_create_never_writes_through_a_symbolic_link(
    cli: Invoke, database_url_env: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "backup"
    link.symlink_to(elsewhere)
    result = cli("backup", "create", "--out", str(link))
    assert result.code == 2
    assert "symbolic link" in result.err
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("variable", ["MEDZ1_DATA_DIR", "MEDZ1_REPORTING_STANDBY"])
def test_an_empty_folder_variable_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert variable in str(raised.value)
    assert os.getcwd() not in str(raised.value)
