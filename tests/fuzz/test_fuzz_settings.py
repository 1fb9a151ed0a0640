"""S32: random MEDZ1_* environments give working settings or one ConfigurationError that
names the variable and never repeats a secret; nothing downstream of accepted settings
fails with anything but a medz1 error.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from medz1.auth.config import AuthConfig, hash_params_from_settings
from medz1.errors import ConfigurationError, Medz1Error
from medz1.provision.credentials import role_plan_from_settings
from medz1.provision.declared import RoleLimits
from medz1.settings import ENV_PREFIX, Settings, load_settings
from tests.cli.conftest import Invoke
from tests.fuzz.budget import DOCUMENTED_CODES, FAST, FULL, Drawn, fuzz_settings

#: Each role's limits are one nested field, read from flat variables
#: (``MEDZ1_APP_STATEMENT_TIMEOUT_MS``): the fuzzer sets those, and the group too.
_NESTED = {
    name: info for name, info in Settings.model_fields.items() if info.annotation is RoleLimits
}
_LIMIT_BOUNDS = {
    f"{role}_{limit.name}": typing.get_type_hints(RoleLimits, include_extras=True)[limit.name]
    for role in _NESTED
    for limit in dataclasses.fields(RoleLimits)
}
FIELDS = sorted({*Settings.model_fields, *_LIMIT_BOUNDS})
SECRETS = sorted(f for f in FIELDS if f.endswith("_password") or f == "database_url")

#: An environment variable cannot hold NUL; everything else can.
env_text = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    max_size=60,
)
numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(str),
    st.sampled_from(["0", "-1", "1e309", "nan", "inf", "2147483647", "2147483648", " 5 ", "0x10"]),
)
urls = st.builds(
    "postgresql{}://{}:{}@{}:{}/{}{}".format,
    st.sampled_from(["", "+psycopg", "+asyncpg", "ql"]),
    env_text.filter(lambda s: "@" not in s and "/" not in s),
    env_text.filter(lambda s: "@" not in s and "/" not in s),
    st.sampled_from(["127.0.0.1", "[::1]", "127.0.0.1:5432,127.0.0.1", ""]),
    st.one_of(st.sampled_from(["1", "0", "65536", "-1", "x", ""]), st.integers().map(str)),
    env_text,
    st.sampled_from(["", "?sslmode=bogus", "?host=/nonexistent", "?connect_timeout=x", "?a"]),
)
values = st.one_of(
    env_text,
    numbers,
    urls,
    st.sampled_from(["true", "false", "yes", "2", "", " ", "/", "~", "/etc/hostname"]),
    st.sampled_from(["medz1", "x", "_"]).map(lambda name: name + "\n"),
)
environments = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.sampled_from(["extra", "DATABASE", "data_dir "])),
    values,
    min_size=1,
    max_size=5,
)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``MEDZ1_<FIELD>`` set to each value for the duration of one example."""
    names = {f"{ENV_PREFIX}{field.upper()}": value for field, value in values.items()}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _secret_values(values: dict[str, str]) -> list[tuple[str, str]]:
    # Values short enough to occur in any message by chance prove nothing.
    return [(f, v) for f, v in values.items() if f in SECRETS and len(v.strip()) >= 8]


def _message_without(values: dict[str, str], field: str) -> str:
    """The configuration error of ``values`` with ``field`` unset ("" when none)."""
    name = f"{ENV_PREFIX}{field.upper()}"
    saved = os.environ.pop(name, None)
    try:
        load_settings()
    except ConfigurationError as exc:
        return str(exc)
    finally:
        if saved is not None:
            os.environ[name] = saved
    return ""


def _use(settings: Settings) -> None:
    """Everything the commands build from settings, before any connection."""
    AuthConfig.from_settings(settings)
    hash_params_from_settings(settings)  # building a hasher would hash (up to 4 GiB)
    role_plan_from_settings(settings, generate_passwords=False)
    assert settings.data_path.is_absolute()
    if not settings.embedded:
        assert settings.external_url().drivername == "postgresql+psycopg"
    assert settings.target_database


def _loopback(settings: Settings) -> bool:
    # Commands only ever connect to this machine's loopback in tests (no name lookups).
    if settings.embedded:
        return True
    url = settings.external_url()
    return url.host in ("127.0.0.1", "::1") and "host" not in url.query


def _fuzz_settings(cli: Invoke, examples: int) -> None:
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(values=environments, run_cli=st.integers(0, 4))
    def check(values: dict[str, str], run_cli: int) -> None:
        drawn()
        with environment(values):
            try:
                settings = load_settings()
            except ConfigurationError as exc:
                message = str(exc)
                assert ENV_PREFIX in message
                for field, secret in _secret_values(values):
                    # A secret that the message holds only by coincidence (it is part of
                    # another variable's text or a bound) is there without it as well.
                    if secret in message:
                        assert secret in _message_without(values, field)
                return
            # A database name is used as an identifier: exactly lower-case letters, digits, _.
            assert re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", settings.database_name)
            code = 0
            try:
                _use(settings)
            except Medz1Error as exc:
                code = exc.exit_code
            assert code in DOCUMENTED_CODES
            if run_cli == 0 and _loopback(settings):
                result = cli("schema", "list")
                assert "Traceback" not in result.out + result.err
                assert result.code in DOCUMENTED_CODES, (values, result.err)
                for _, secret in _secret_values(values):
                    assert secret not in result.out + result.err

    check()
    assert drawn.count >= examples


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in an empty folder: relative data directories land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fuzzed_environments_give_settings_or_a_configuration_error(
    cli: Invoke, scratch: Path
) -> None:
    _fuzz_settings(cli, FAST["settings"])


@pytest.mark.slow
def test_fuzzed_environments_give_settings_or_a_configuration_error_full(
    cli: Invoke, scratch: Path
) -> None:
    _fuzz_settings(cli, FULL["settings"])


# -- accepted limits work on PostgreSQL ---------------------------------------------------

LIMITS = sorted(f for f in FIELDS if f.endswith(("_timeout_ms", "_connection_limit")))


def _largest(field: str) -> int:
    """The largest value settings accept for ``field`` (the test fails if it is unbounded)."""
    if field in _LIMIT_BOUNDS:  # Annotated[int, Field(...)]: the Field holds the bounds
        metadata = [m for info in _LIMIT_BOUNDS[field].__metadata__ for m in info.metadata]
    else:
        metadata = Settings.model_fields[field].metadata
    bounds = [getattr(m, "le", None) for m in metadata]
    found = [b for b in bounds if b is not None]
    assert found, f"{field} accepts any number"
    return int(found[0])


@pytest.mark.parametrize("field", LIMITS)
def test_largest_accepted_role_limit_is_accepted_by_postgresql(field: str, engine: Engine) -> None:
    largest = _largest(field)
    with environment({field: str(largest)}):
        load_settings()
    with environment({field: str(largest + 1)}), pytest.raises(ConfigurationError):
        load_settings()
    with engine.connect() as conn, conn.begin():
        if field.endswith("_connection_limit"):
            conn.exec_driver_sql(f"CREATE ROLE medz1_fuzz_limit CONNECTION LIMIT {largest}")
        else:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {largest}")
        conn.rollback()


def test_largest_accepted_audit_retention_is_a_valid_interval(engine: Engine) -> None:
    largest = _largest("audit_retention_days")
    with engine.connect() as conn:
        cutoff = conn.execute(
            text("SELECT now() - make_interval(days => :d)"), {"d": largest}
        ).scalar_one()
    assert cutoff.year > 1


@pytest.mark.parametrize("seconds", ["0.5", "0.999", "1e-9"])
def test_start_timeout_below_one_second_is_refused(seconds: str) -> None:
    # pg_ctl takes whole seconds (-t): a shorter wait would become "do not wait".
    with environment({"start_timeout": seconds}), pytest.raises(ConfigurationError):
        load_settings()
