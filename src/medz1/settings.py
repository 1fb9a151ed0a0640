"""Settings of medz1, read from ``MEDZ1_*`` environment variables.

With no ``MEDZ1_DATABASE_URL`` medz1 runs its bundled PostgreSQL in ``MEDZ1_DATA_DIR``.
Secrets are ``SecretStr`` and never printed; validation errors name the variable but never
repeat its value (``hide_input_in_errors``), because the value may be a password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from medz1.errors import ConfigurationError

ENV_PREFIX = "MEDZ1_"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMES = {"postgresql", "postgresql+psycopg", "postgres"}
#: PostgreSQL keeps role timeouts (ms) and connection limits as 32-bit integers.
_PG_INT_MAX = 2_147_483_647
#: Longer than any retention rule asks for, and far from PostgreSQL's date range.
_MAX_RETENTION_DAYS = 36_500


class Settings(BaseSettings):
    """Validated configuration; build it once at an edge with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        hide_input_in_errors=True,
        validate_default=True,
        frozen=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of an existing server; unset means the embedded server.",
    )
    data_dir: Path = Field(
        default=Path(".medz1"),
        description="Folder for the embedded server's data, generated secrets and backups.",
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
    app_statement_timeout_ms: int = Field(default=30_000, ge=0, le=_PG_INT_MAX)
    app_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0, le=_PG_INT_MAX)
    app_connection_limit: int = Field(default=60, ge=-1, le=_PG_INT_MAX)
    reporting_statement_timeout_ms: int = Field(default=300_000, ge=0, le=_PG_INT_MAX)
    reporting_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0, le=_PG_INT_MAX)
    reporting_connection_limit: int = Field(default=10, ge=-1, le=_PG_INT_MAX)
    loader_statement_timeout_ms: int = Field(default=0, ge=0, le=_PG_INT_MAX)
    loader_idle_in_transaction_timeout_ms: int = Field(default=600_000, ge=0, le=_PG_INT_MAX)
    loader_connection_limit: int = Field(default=4, ge=-1, le=_PG_INT_MAX)
    auditor_statement_timeout_ms: int = Field(default=60_000, ge=0, le=_PG_INT_MAX)
    auditor_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0, le=_PG_INT_MAX)
    auditor_connection_limit: int = Field(default=5, ge=-1, le=_PG_INT_MAX)

    # Declared before the parameters: their validator reads it.
    argon2_allow_weak: bool = Field(
        default=False,
        description="Accept argon2id parameters below m=19 MiB, t=2 (tests only).",
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

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        try:
            url = make_url(raw)
        except ArgumentError:
            raise ValueError(
                "is not a URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        if url.drivername not in _SCHEMES:
            raise ValueError(f"scheme {url.drivername!r} is not PostgreSQL; use postgresql://")
        if not url.database:
            raise ValueError("names no database; end the URL with /DATABASE")
        return SecretStr(raw)

    @field_validator("argon2_time_cost", "argon2_memory_kib")
    @classmethod
    def _check_argon2_floor(cls, value: int, info: ValidationInfo) -> int:
        # S1: never below m = 19 MiB, t = 2 (OWASP password storage), unless a test asks.
        floor = {"argon2_time_cost": 2, "argon2_memory_kib": 19 * 1024}[str(info.field_name)]
        if value < floor and not info.data.get("argon2_allow_weak", False):
            raise ValueError(f"must be at least {floor:,} (the S1 floor of argon2id)")
        return value

    @field_validator("database_name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):  # match() would let a final newline by
            raise ValueError("must be a lower-case identifier (letters, digits, _; 63 at most)")
        return value

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
        url = make_url(self.database_url.get_secret_value())
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
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            reason = error["msg"].removeprefix("Value error, ")
            problems.append(f"{ENV_PREFIX}{field.upper()}: {reason}")
        raise ConfigurationError(
            "invalid configuration: " + "; ".join(problems),
            hint="fix or unset the variable named above",
        ) from None
