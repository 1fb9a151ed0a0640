"""Several hosts and ``target_session_attrs`` in ``MEDZ1_DATABASE_URL`` and
``MEDZ1_REPORTING_URL``, written the libpq way, reach psycopg and libpq programs intact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from medz1.errors import ConfigurationError
from medz1.ops.backup._tools import libpq_env
from medz1.provision.credentials import secrets_path
from medz1.settings import load_settings

SECRET = "sentinel-Pa55word-x9"
MULTI = (
    f"postgresql://admin:{SECRET}@db1.example:5432,db2.example:5433,db3.example/clinic"
    "?target_session_attrs=read-write&sslmode=require"
)


@pytest.mark.parametrize("variable", ["MEDZ1_DATABASE_URL", "MEDZ1_REPORTING_URL"])
def test_a_url_with_several_hosts_is_accepted(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, MULTI)
    settings = load_settings()
    url = settings.external_url() if variable == "MEDZ1_DATABASE_URL" else None
    url = url or settings.reporting_target_url()
    assert url is not None
    assert url.database == "clinic"
    _args, options = create_engine(url).dialect.create_connect_args(url)
    assert options["host"] == "db1.example,db2.example,db3.example"
    assert options["port"] == "5432,5433,"
    assert options["target_session_attrs"] == "read-write"
    assert options["sslmode"] == "require"


def test_libpq_programs_get_every_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", MULTI)
    env = libpq_env(load_settings().external_url())
    assert env["PGHOST"] == "db1.example,db2.example,db3.example"
    assert env["PGPORT"] == "5432,5433,"
    assert env["PGTARGETSESSIONATTRS"] == "read-write"
    assert env["PGDATABASE"] == "clinic"


def test_a_single_host_url_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"postgresql://admin:{SECRET}@db.example:6432/c")
    url = load_settings().external_url()
    assert (url.host, url.port, dict(url.query)) == ("db.example", 6432, {})
    env = libpq_env(url)
    assert (env["PGHOST"], env["PGPORT"]) == ("db.example", "6432")


@pytest.mark.parametrize("variable", ["MEDZ1_DATABASE_URL", "MEDZ1_REPORTING_URL"])
@pytest.mark.parametrize("hosts", ["h1:54x2,h2", "h1,h2:70000", "h1:99999999999999999999", "h:0"])
def test_a_bad_port_names_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, hosts: str
) -> None:
    monkeypatch.setenv(variable, f"postgresql://u:{SECRET}@{hosts}/db")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in str(caught.value)
    assert SECRET not in str(caught.value)


def test_role_passwords_of_a_host_list_are_kept_per_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDZ1_DATABASE_URL", MULTI)
    listed = secrets_path(load_settings())
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"postgresql://admin:{SECRET}@db1.example/clinic")
    first_only = secrets_path(load_settings())
    assert listed.parent == tmp_path / "secrets"
    assert "db1.example" in listed.name
    assert "db2.example" in listed.name
    assert listed != first_only
