"""With an external server, role passwords are kept per user, per server and database,
never under the current folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medz1.errors import ConfigurationError
from medz1.provision.credentials import role_passwords, secrets_path
from medz1.provision.declared import APP, LOGIN_ROLES
from medz1.settings import load_settings

URL = "postgresql://admin:not-a-real-secret@db.example.org:6543/clinic"


@pytest.fixture
def external(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MEDZ1_DATA_DIR", "MEDZ1_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.setenv("MEDZ1_DATABASE_URL", URL)
    return tmp_path


def test_secrets_file_does_not_depend_on_the_current_folder(
    external: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = set()
    for folder in ("first", "second"):
        (external / folder).mkdir()
        monkeypatch.chdir(external / folder)
        seen.add(secrets_path(load_settings()))
    assert len(seen) == 1
    (path,) = seen
    assert path == external / "user-data" / "medz1" / "secrets" / "db.example.org_6543_clinic.json"


def test_each_database_of_a_server_has_its_own_secrets_file(external: Path) -> None:
    first = secrets_path(load_settings())
    other = secrets_path(load_settings(database_url=URL.replace("/clinic", "/clinic_test")))
    assert first != other
    assert first.parent == other.parent


def test_an_explicit_data_dir_holds_the_secrets(
    external: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(external / "medz1-data"))
    assert secrets_path(load_settings()) == (
        external / "medz1-data" / "secrets" / "db.example.org_6543_clinic.json"
    )


def test_a_password_is_generated_only_for_a_role_that_does_not_exist_yet(
    external: Path,
) -> None:
    settings = load_settings()
    with pytest.raises(ConfigurationError) as refused:
        role_passwords(settings, generate=True, existing=[APP])
    assert refused.value.exit_code == 2
    assert "MEDZ1_APP_PASSWORD" in (refused.value.hint or "")
    assert not secrets_path(settings).exists()  # nothing generated, nothing stored
    fresh = role_passwords(settings, generate=True, existing=[])
    assert sorted(fresh) == sorted(LOGIN_ROLES)
    again = role_passwords(settings, generate=True, existing=LOGIN_ROLES)
    assert {r: p.get_secret_value() for r, p in again.items()} == {
        r: p.get_secret_value() for r, p in fresh.items()
    }
