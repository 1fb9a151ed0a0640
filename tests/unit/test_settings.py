"""Settings: validated at start, errors name the variable and never echo a secret."""

from __future__ import annotations

import dataclasses

import pytest

from medz1.errors import ConfigurationError
from medz1.provision.declared import DEFAULT_LIMITS, ROLE_ALIASES, role_specs
from medz1.settings import load_settings

SECRET = "sentinel-Pa55word-x9"


def test_no_database_url_means_embedded_server() -> None:
    settings = load_settings()
    assert settings.embedded
    assert settings.target_database == "medz1"


def test_database_url_selects_external_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"postgresql://app:{SECRET}@db.example:5433/clinic")
    settings = load_settings()
    assert not settings.embedded
    assert settings.target_database == "clinic"
    assert settings.external_url().drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("MEDZ1_DATABASE_URL", f"mysql://u:{SECRET}@h/db", "not PostgreSQL"),
        ("MEDZ1_DATABASE_URL", f"postgresql://u:{SECRET}@h", "names no database"),
        ("MEDZ1_DATABASE_URL", f"not a url {SECRET}", "is not a URL"),
        ("MEDZ1_PORT", "eighty", "valid integer"),
        ("MEDZ1_PORT", "80", "greater than or equal to 1024"),
        ("MEDZ1_DATABASE_NAME", "Robert'); DROP", "lower-case identifier"),
        ("MEDZ1_START_TIMEOUT", "-1", "greater than or equal to 1"),
        ("MEDZ1_APP_PASSWORD", "short-" + SECRET[:3], "16 to 256 characters"),
        ("MEDZ1_LOADER_PASSWORD", SECRET + "\x07bell", "control characters"),
        ("MEDZ1_APP_STATEMENT_TIMEOUT_MS", "-5", "greater than or equal to 0"),
        ("MEDZ1_AUDIT_RETENTION_DAYS", "365", "greater than or equal to 2192"),
    ],
)
def test_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message
    assert reason in message
    assert SECRET not in message


def test_settings_repr_hides_the_url_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", f"postgresql://app:{SECRET}@h/db")
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.external_url())


def test_empty_database_url_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "  ")
    assert load_settings().embedded


@pytest.mark.parametrize(
    ("variable", "value"), [("MEDZ1_ARGON2_MEMORY_KIB", "1024"), ("MEDZ1_ARGON2_TIME_COST", "1")]
)
def test_argon2_parameters_below_the_s1_floor_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"{variable}: must be at least"):
        load_settings()
    monkeypatch.setenv("MEDZ1_ARGON2_ALLOW_WEAK", "true")  # no longer a way around S1
    with pytest.raises(ConfigurationError, match=f"{variable}: must be at least"):
        load_settings()


_LIMIT_VARIABLES = [
    (alias, limit)
    for alias in ("APP", "REPORTING", "LOADER", "AUDITOR")
    for limit in ("STATEMENT_TIMEOUT_MS", "IDLE_IN_TRANSACTION_TIMEOUT_MS", "CONNECTION_LIMIT")
]


@pytest.mark.parametrize(("alias", "limit"), _LIMIT_VARIABLES)
def test_each_role_limit_is_read_from_its_flat_variable_and_others_keep_their_defaults(
    monkeypatch: pytest.MonkeyPatch, alias: str, limit: str
) -> None:
    monkeypatch.setenv(f"MEDZ1_{alias}_{limit}", "7")
    role = ROLE_ALIASES[alias.lower()]
    limits = load_settings().role_limits()
    changed = dataclasses.replace(DEFAULT_LIMITS[role], **{limit.lower(): 7})
    assert limits == {**DEFAULT_LIMITS, role: changed}


@pytest.mark.parametrize(("alias", "limit"), _LIMIT_VARIABLES)
def test_each_bad_role_limit_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, alias: str, limit: str
) -> None:
    monkeypatch.setenv(f"MEDZ1_{alias}_{limit}", "-2")
    with pytest.raises(ConfigurationError, match=f"MEDZ1_{alias}_{limit}: .*greater than"):
        load_settings()


def test_role_limits_default_to_the_declared_defaults() -> None:
    assert load_settings().role_limits() == DEFAULT_LIMITS
    specs = {spec.name: spec.limits for spec in role_specs(load_settings().role_limits())}
    assert {role: specs[role] for role in DEFAULT_LIMITS} == DEFAULT_LIMITS


@pytest.mark.parametrize("value", ["", "soon", "[1]", '{"connection_limit": -9}'])
def test_a_role_limit_group_set_whole_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MEDZ1_APP", value)
    with pytest.raises(ConfigurationError, match=r"(?i)app"):
        load_settings()
