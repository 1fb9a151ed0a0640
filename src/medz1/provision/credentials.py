"""Passwords of the login roles and the policy built from settings.

A password set in the environment (``MEDZ1_APP_PASSWORD``, ...) wins. Otherwise medz1
generates one the first time and keeps it in ``<data dir>/secrets/roles.json``, a file
only its owner can read (mode 0600 in a 0700 folder). Passwords are ``SecretStr`` and
never printed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from medz1.errors import ConfigurationError
from medz1.models import SCHEMAS, metadata
from medz1.provision.policy import (
    APP,
    AUDITOR,
    LOADER,
    LOGIN_ROLES,
    REPORTING,
    Matrix,
    RoleLimits,
    RoleSpec,
    declared_matrix,
    role_specs,
)
from medz1.settings import Settings

SECRETS_FILE = Path("secrets") / "roles.json"
_SETTING_PREFIX = {APP: "app", REPORTING: "reporting", LOADER: "loader", AUDITOR: "auditor"}


@dataclass(frozen=True)
class Policy:
    """Everything ``grants apply`` needs: roles with limits, the matrix, the passwords."""

    specs: tuple[RoleSpec, ...]
    matrix: Matrix
    passwords: dict[str, SecretStr]


def secrets_path(settings: Settings) -> Path:
    """Where generated role passwords are kept."""
    return settings.data_path / SECRETS_FILE


def _read_store(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"the password file {path} cannot be read",
            hint="restore it from a backup, or delete it and set MEDZ1_*_PASSWORD",
        ) from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigurationError(
            f"the password file {path} is malformed",
            hint="delete it and run `medz1 up` to generate new passwords",
        )
    return {str(k): str(v) for k, v in data.items()}


def _write_store(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    temporary.replace(path)


def role_passwords(settings: Settings, *, generate: bool) -> dict[str, SecretStr]:
    """The password of each login role: from settings, else the store, else generated.

    With ``generate`` False, roles without a known password are left out.
    """
    path = secrets_path(settings)
    store = _read_store(path)
    passwords: dict[str, SecretStr] = {}
    changed = False
    for role in LOGIN_ROLES:
        configured = getattr(settings, f"{_SETTING_PREFIX[role]}_password")
        if configured is not None:
            passwords[role] = configured
        elif role in store:
            passwords[role] = SecretStr(store[role])
        elif generate:
            store[role] = secrets.token_urlsafe(32)
            passwords[role] = SecretStr(store[role])
            changed = True
    if changed:
        _write_store(path, store)
    return passwords


def role_limits(settings: Settings) -> dict[str, RoleLimits]:
    """Per-role limits from settings (``MEDZ1_APP_STATEMENT_TIMEOUT_MS``, ...)."""
    return {
        role: RoleLimits(
            statement_timeout_ms=getattr(settings, f"{prefix}_statement_timeout_ms"),
            idle_in_transaction_timeout_ms=getattr(
                settings, f"{prefix}_idle_in_transaction_timeout_ms"
            ),
            connection_limit=getattr(settings, f"{prefix}_connection_limit"),
        )
        for role, prefix in _SETTING_PREFIX.items()
    }


def policy_from_settings(settings: Settings, *, generate_passwords: bool) -> Policy:
    """The policy medz1 applies and checks, from settings."""
    return Policy(
        specs=role_specs(role_limits(settings)),
        matrix=declared_matrix(metadata, SCHEMAS),
        passwords=role_passwords(settings, generate=generate_passwords),
    )
