"""Settings of medz1, read from ``MEDZ1_*`` environment variables.

With no ``MEDZ1_DATABASE_URL`` medz1 runs its bundled PostgreSQL in ``MEDZ1_DATA_DIR``;
unset, the data directory is found the way git finds ``.git`` (:func:`find_data_dir`).
Secrets are ``SecretStr`` and never printed; validation errors name the variable but never
repeat its value (``hide_input_in_errors``), because the value may be a password.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from medz1.errors import ConfigurationError
from medz1.provision.declared import (
    APP,
    AUDITOR,
    DEFAULT_LIMITS,
    LOADER,
    REPORTING,
    ROLE_ALIASES,
    RoleLimits,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ENV_PREFIX = "MEDZ1_"
#: Settings fields holding one login role's limits, named by the role's alias.
_LIMITED = ("app", "reporting", "loader", "auditor")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMES = {"postgresql", "postgresql+psycopg", "postgres"}
#: Longer than any retention rule asks for, and far from PostgreSQL's date range.
_MAX_RETENTION_DAYS = 36_500
#: Name of a project's data directory, looked for in the current folder and its parents.
DATA_DIR_NAME = ".medz1"


def find_data_dir(start: Path | None = None) -> Path:
    """The data directory used when ``MEDZ1_DATA_DIR`` is unset.

    The nearest folder named ``.medz1`` in ``start`` (default: the current folder) or one of
    its parents, found the way git finds ``.git``; when there is none, the per-user data
    folder (``platformdirs.user_data_path("medz1")``, e.g. ``~/.local/share/medz1``), so a
    command run from any folder finds the same server.

    Args:
        start: The folder to begin the walk in.

    Returns:
        An absolute path (it may not exist yet when it is the per-user folder).
    """
    try:
        here = (start or Path.cwd()).resolve()
    except OSError:  # the current folder was removed
        return platformdirs.user_data_path("medz1")
    for folder in (here, *here.parents):
        candidate = folder / DATA_DIR_NAME
        if candidate.is_dir():
            return candidate
    return platformdirs.user_data_path("medz1")


def libpq_hosts(raw: str) -> str:
    """A URL with several hosts written the libpq way (``postgresql://u:p@h1:5432,h2/db``)
    rewritten the way SQLAlchemy takes them (``postgresql://u:p@/db?host=h1:5432&host=h2``),
    as is a percent-encoded host (a socket folder, ``%2Frun%2Fpostgresql``), which
    SQLAlchemy would not decode; any other URL unchanged. Options such as ``target_session_attrs`` are kept.

    Source: libpq "Connection URIs" (a host list separated by commas).
    """
    parts = urlsplit(raw)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts and "%" not in hosts:  # one host, not percent-encoded (a socket)
        return raw
    entries = [entry for entry in hosts.split(",") if entry]
    # Each entry is already URL-encoded (a socket folder is written %2Fpath): kept as is.
    query = "&".join(f"host={entry}" for entry in entries)
    name, colon, port = entries[0].rpartition(":") if len(entries) == 1 else ("", "", "")
    if colon and port.isdigit():  # SQLAlchemy splits HOST:PORT only in a list of hosts
        query = f"host={name}&port={port}"
    if parts.query:
        query = f"{query}&{parts.query}"
    return urlunsplit((parts.scheme, f"{userinfo}{at}", parts.path, query, parts.fragment))


def _parse_url(value: SecretStr | None) -> SecretStr | None:
    """Validate a PostgreSQL URL setting; never repeats the value (it may hold a password)."""
    if value is None or not value.get_secret_value().strip():
        return None
    from sqlalchemy.engine import make_url  # imported here: most commands never need it
    from sqlalchemy.exc import ArgumentError

    raw = libpq_hosts(value.get_secret_value().strip())
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise ValueError(
            "is not a URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(several hosts: HOST1:PORT1,HOST2:PORT2)"
        ) from None
    if url.drivername not in _SCHEMES:
        raise ValueError(f"scheme {url.drivername!r} is not PostgreSQL; use postgresql://")
    if not url.database:
        raise ValueError("names no database; end the URL with /DATABASE")
    hosts = url.query.get("host", ())
    ports = [str(url.port)] if url.port is not None else []
    for entry in (hosts,) if isinstance(hosts, str) else hosts:
        if ":" in entry and not entry.endswith("]"):
            ports.append(entry.rpartition(":")[2])
    if any(not (p.isdigit() and 1 <= int(p) <= 65535) for p in ports):
        raise ValueError("has a port that is not a number from 1 to 65535")
    return SecretStr(raw)


class Settings(BaseSettings):
    """Validated configuration; build it once at an edge with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # MEDZ1_APP_STATEMENT_TIMEOUT_MS -> app.statement_timeout_ms: split once, after the
        # role, so only the nested role limits are read this way.
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        hide_input_in_errors=True,
        validate_default=True,
        frozen=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of an existing server; unset means the embedded server.",
    )
    reporting_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL where reporting_user's reads go (a replica, say); its "
        "user and password are replaced by reporting_user's. Unset: the medz1 database.",
    )
    data_dir: Path = Field(
        default_factory=find_data_dir,
        description="Folder for the embedded server's data, generated secrets and backups "
        "(unset: the nearest .medz1 folder upwards, else the per-user data folder).",
    )
    database_name: Annotated[str, Field(description="Database created by the embedded server.")] = (
        "medz1"
    )
    port: int | None = Field(
        default=None,
        ge=1024,
        le=65535,
        description="Also listen on 127.0.0.1:PORT (embedded server); default: unix socket only.",
    )
    start_timeout: float = Field(
        default=30.0,
        ge=1,  # pg_ctl waits whole seconds: below 1 it would not wait at all
        le=600,
        description="Seconds to wait for the embedded server to start.",
    )
    reporting_standby: Path | None = Field(
        default=None,
        description="Folder of a standby made by `medz1 replica create`: reporting reads "
        "(the reporting role) go there. Embedded server only.",
    )

    app_password: SecretStr | None = Field(
        default=None, description="Password of med_z1_user (generated and kept when unset)."
    )
    reporting_password: SecretStr | None = Field(
        default=None, description="Password of reporting_user (generated when unset)."
    )
    loader_password: SecretStr | None = Field(
        default=None, description="Password of medz1_loader (generated when unset)."
    )
    auditor_password: SecretStr | None = Field(
        default=None, description="Password of medz1_auditor (generated when unset)."
    )
    # Per-role limits (S26), nested so that each role's three limits travel together; the
    # environment names stay flat: MEDZ1_APP_STATEMENT_TIMEOUT_MS is app.statement_timeout_ms.
    app: RoleLimits = Field(
        default=DEFAULT_LIMITS[APP],
        description="Limits of med_z1_user: MEDZ1_APP_STATEMENT_TIMEOUT_MS, "
        "MEDZ1_APP_IDLE_IN_TRANSACTION_TIMEOUT_MS, MEDZ1_APP_CONNECTION_LIMIT.",
    )
    reporting: RoleLimits = Field(
        default=DEFAULT_LIMITS[REPORTING],
        description="Limits of reporting_user (MEDZ1_REPORTING_*).",
    )
    loader: RoleLimits = Field(
        default=DEFAULT_LIMITS[LOADER], description="Limits of medz1_loader (MEDZ1_LOADER_*)."
    )
    auditor: RoleLimits = Field(
        default=DEFAULT_LIMITS[AUDITOR], description="Limits of medz1_auditor (MEDZ1_AUDITOR_*)."
    )

    argon2_time_cost: int = Field(default=3, ge=1, le=20, description="argon2id passes (t).")
    argon2_memory_kib: int = Field(
        default=65_536, ge=8, le=4_194_304, description="argon2id memory in KiB (m)."
    )
    argon2_parallelism: int = Field(default=4, ge=1, le=64, description="argon2id lanes (p).")
    lockout_threshold: int = Field(
        default=5, ge=1, le=100, description="Consecutive failed logins that lock an account."
    )
    lockout_minutes: int = Field(default=15, ge=1, le=1440, description="Lockout duration.")
    session_idle_minutes: int = Field(
        default=15, ge=1, le=1440, description="A session ends after this long without use."
    )
    session_absolute_hours: int = Field(
        default=8, ge=1, le=168, description="A session ends this long after login."
    )
    single_session: bool = Field(
        default=False, description="A new login ends the user's other sessions (med-z1's way)."
    )
    dormant_days: int = Field(
        default=30, ge=1, le=3650, description="Accounts unused this long are disabled."
    )
    audit_retention_days: int = Field(
        default=2192,
        ge=2192,
        le=_MAX_RETENTION_DAYS,
        description="Audit rows younger than this are never purged.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key (at least 32 characters) signing audit checkpoints; unset: a key "
        "generated once in <data dir>/secrets/audit.key. Never stored in the database.",
    )
    service_secure: bool = Field(
        default=False,
        description="The service is reached over HTTPS: Secure __Host- cookies and HSTS.",
    )
    service_pool_size: int = Field(
        default=5, ge=1, le=100, description="Database connections per service worker."
    )
    service_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Wait this long for a free connection, then 503."
    )
    service_login_attempts_per_minute: int = Field(
        default=10, ge=1, le=10_000, description="Login attempts per client and minute (429)."
    )
    service_max_body_bytes: int = Field(
        default=65_536, ge=1024, le=10_485_760, description="Largest request body (413)."
    )
    ai_embedder: str = Field(
        default="hashing",
        max_length=2000,
        description="Embedder of chart text: hashing (offline default), "
        "sentence-transformers:<model folder> or http:<model>@<url>.",
    )
    pooler_url: str | None = Field(
        default=None,
        description="PgBouncer (transaction pooling) in front of the database: "
        "postgresql://HOST:PORT/DATABASE, without user or password. The application role "
        "(web service, `medz1 patients`) connects through it, with no server-side prepared "
        "statements; administration connects directly.",
    )
    station_scoping: bool = Field(
        default=True,
        description="Row-level security on the clinical tables: the application sees the "
        "patients of the user's home station (plus break-the-glass); off shows every patient. "
        "Applied by `medz1 up` and `medz1 grants apply`.",
    )

    @field_validator("app_password", "reporting_password", "loader_password", "auditor_password")
    @classmethod
    def _check_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if not secret:
            return None
        if len(secret) < 16 or len(secret) > 256:
            raise ValueError("must be 16 to 256 characters long")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("pooler_url")
    @classmethod
    def _check_pooler_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from sqlalchemy.engine import make_url  # imported here: most commands never need it
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError("is not a URL; expected postgresql://HOST:PORT/DATABASE") from None
        if url.drivername not in _SCHEMES:
            raise ValueError(f"scheme {url.drivername!r} is not PostgreSQL; use postgresql://")
        if not url.database:
            raise ValueError("names no database; end the URL with /DATABASE")
        if url.username or url.password:
            raise ValueError("must not hold a user or password (the role's own are used)")
        return value.strip()

    @field_validator("database_url", "reporting_url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _parse_url(value)

    @field_validator("argon2_time_cost", "argon2_memory_kib")
    @classmethod
    def _check_argon2_floor(cls, value: int, info: ValidationInfo) -> int:
        # S1: never below m = 19 MiB, t = 2 (OWASP password storage). Tests that need cheap
        # hashes build a PasswordHasher directly; no setting weakens production.
        floor = {"argon2_time_cost": 2, "argon2_memory_kib": 19 * 1024}[str(info.field_name)]
        if value < floor:
            raise ValueError(f"must be at least {floor:,} (the S1 floor of argon2id)")
        return value

    @field_validator("app", "reporting", "loader", "auditor", mode="before")
    @classmethod
    def _over_defaults(cls, value: object, info: ValidationInfo) -> object:
        # The environment may set one limit of a role: the others keep their defaults.
        if isinstance(value, dict):
            default = DEFAULT_LIMITS[ROLE_ALIASES[str(info.field_name)]]
            return {**dataclasses.asdict(default), **value}
        return value

    @field_validator("data_dir", "reporting_standby", mode="before")
    @classmethod
    def _check_folder(cls, value: object) -> object:
        # An empty variable would read as the current folder ("" is Path(".")): a
        # variable set to nothing was never meant to name it.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty (unset it to use the default, or name a folder)")
        return value

    @field_validator("database_name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):  # match() would let a final newline by
            raise ValueError("must be a lower-case identifier (letters, digits, _; 63 at most)")
        return value

    def role_limits(self) -> dict[str, RoleLimits]:
        """The limits of each login role, keyed by role name (``med_z1_user``, ...)."""
        return {ROLE_ALIASES[alias]: getattr(self, alias) for alias in _LIMITED}

    @property
    def embedded(self) -> bool:
        """True when medz1 runs its own PostgreSQL (no ``MEDZ1_DATABASE_URL``)."""
        return self.database_url is None

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path."""
        return self.data_dir.expanduser().resolve()

    def external_url(self) -> URL:
        """The parsed ``MEDZ1_DATABASE_URL`` with the psycopg driver; only when not embedded."""
        if self.database_url is None:
            raise ConfigurationError(
                "no MEDZ1_DATABASE_URL is set", hint="set it, or use the embedded server"
            )
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url.get_secret_value())
        return url.set(drivername="postgresql+psycopg")

    def reporting_target_url(self) -> URL | None:
        """The parsed ``MEDZ1_REPORTING_URL`` with the psycopg driver, or None."""
        if self.reporting_url is None:
            return None
        from sqlalchemy.engine import make_url

        url = make_url(self.reporting_url.get_secret_value())
        return url.set(drivername="postgresql+psycopg")

    @property
    def target_database(self) -> str:
        """Name of the medz1 database on whichever server is used."""
        if self.database_url is None:
            return self.database_name
        return str(self.external_url().database)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`ConfigurationError` naming the variable.

    The message names each bad variable and why it is bad, never its value.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:
        # A nested group given whole (``MEDZ1_APP``) that is not JSON; the message names
        # the field and source, never the value.
        raise ConfigurationError(
            f"invalid configuration: {exc}",
            hint="set each limit on its own, e.g. MEDZ1_APP_STATEMENT_TIMEOUT_MS",
        ) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            # A nested limit's location (app, statement_timeout_ms) is its variable's name.
            field = "_".join(str(part) for part in error["loc"]) or "settings"
            reason = error["msg"].removeprefix("Value error, ")
            problems.append(f"{ENV_PREFIX}{field.upper()}: {reason}")
        raise ConfigurationError(
            "invalid configuration: " + "; ".join(problems),
            hint="fix or unset the variable named above",
        ) from None


def known_variables() -> list[str]:
    """Every ``MEDZ1_*`` environment variable medz1 reads (field names and their aliases)."""
    names = set()
    for name, info in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name.upper()}")
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias.upper())
    return sorted(names)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``MEDZ1_*`` variables medz1 does not read, each with the nearest known name or None.

    A misspelt variable is otherwise silently ignored (``MEDZ1_ARGON2_MEMORY=...`` leaves
    the default in force), so the edges warn about these.

    Args:
        environ: The environment to look at (default: ``os.environ``).

    Returns:
        ``(name, nearest known name or None)`` pairs, sorted by name.
    """
    env = os.environ if environ is None else environ
    known = known_variables()
    found = []
    nested = Settings.model_config.get("env_nested_delimiter") or None
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if nested and any(upper.startswith(k + nested.upper()) for k in known):
            continue  # a field of a nested settings model
        nearest = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        found.append((name, nearest[0] if nearest else None))
    return found
