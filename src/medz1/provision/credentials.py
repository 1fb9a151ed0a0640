"""Passwords of the login roles and the role plan built from settings.

A password set in the environment (``MEDZ1_APP_PASSWORD``, ...) wins. Otherwise medz1
generates one when it creates the role and keeps it in a file only its owner can read
(mode 0600 in a 0700 folder): ``<data dir>/secrets/roles.json`` for the embedded server;
for an external server ``secrets/<host>_<port>_<database>.json`` under the per-user data
folder (``platformdirs.user_data_dir("medz1")``), or under ``MEDZ1_DATA_DIR`` when that is
set explicitly, so the file does not depend on the current folder. The password of a
role that already exists is never generated here: it must be known (environment or
file), or rotated on purpose (``grants apply --rotate-passwords``). Passwords are
``SecretStr`` and never printed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs
from pydantic import SecretStr

from medz1.errors import ConfigurationError
from medz1.models import SCHEMAS, metadata
from medz1.provision.declared import (
    LOGIN_ROLES,
    ROLE_ALIASES,
    Matrix,
    RoleSpec,
    declared_matrix,
    role_specs,
)
from medz1.settings import Settings

SECRETS_FILE = Path("secrets") / "roles.json"
_SETTING_PREFIX = {role: alias for alias, role in ROLE_ALIASES.items() if role in LOGIN_ROLES}


@dataclass(frozen=True)
class RolePlan:
    """Everything ``grants apply`` needs: roles with limits, the matrix, the passwords."""

    specs: tuple[RoleSpec, ...]
    matrix: Matrix
    passwords: dict[str, SecretStr]
    #: True only for ``grants apply --rotate-passwords``: set the passwords of roles
    #: that already exist. Otherwise an existing role's password is never changed.
    rotate: bool = False

    def with_station_scoping(self, *, on: bool) -> RolePlan:
        """This plan with station row security (``MEDZ1_STATION_SCOPING``) on or off."""
        return replace(self, matrix=replace(self.matrix, station_scoping=on))


def _part(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(value)).strip("-") or "local"


def secrets_path(settings: Settings) -> Path:
    """Where generated role passwords are kept (independent of the current folder).

    Embedded server: ``<data dir>/secrets/roles.json``. External server: one file per
    server and database, ``secrets/<host>_<port>_<database>.json`` under ``MEDZ1_DATA_DIR``
    when it is set explicitly, else under the per-user data folder.
    """
    if settings.embedded:
        return settings.data_path / SECRETS_FILE
    url = settings.external_url()
    host = url.host or url.query.get("host") or "local"
    if isinstance(host, tuple):  # several hosts (one cluster): all of them name it
        host = ",".join(host) or "local"
    name = f"{_part(host)}_{_part(url.port or 5432)}_{_part(url.database or 'medz1')}.json"
    if "data_dir" in settings.model_fields_set:
        base = settings.data_path
    else:
        base = platformdirs.user_data_path("medz1")
    return base / "secrets" / name


def unknown_password_error(roles: Collection[str], path: Path) -> ConfigurationError:
    """The refusal for login roles that exist on the server with no password known here."""
    names = ", ".join(sorted(roles))
    settings_names = ", ".join(
        f"MEDZ1_{_SETTING_PREFIX[r].upper()}_PASSWORD" for r in sorted(roles)
    )
    return ConfigurationError(
        f"role(s) {names} already exist on the server, but no password for them is known "
        f"here (none in the environment, none in {path}); medz1 will not change them",
        hint=f"set {settings_names}, copy the password file of the installation that "
        "created them to that place, or run `medz1 grants apply --rotate-passwords` to "
        "set new ones (the running application must then be given them)",
    )


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


def role_passwords(
    settings: Settings,
    *,
    generate: bool,
    existing: Collection[str] = (),
    rotate: bool = False,
    refuse_unknown: bool = True,
) -> dict[str, SecretStr]:
    """The password of each login role: from settings, else the store, else generated.

    Args:
        settings: the settings (``MEDZ1_*_PASSWORD``, data folder, server URL).
        generate: generate (and store) a password for a role that has none known here
            and does not exist on the server yet.
        existing: login roles that already exist on the server.
        rotate: generate a new password for every role not set in the environment, and
            store every password (``grants apply --rotate-passwords``).
        refuse_unknown: with ``generate``, refuse a role in ``existing`` without a known
            password; when False, leave it out (a restore, which never sets an existing
            role's password, needs none and must not store one that is not the role's).

    Returns:
        Role name -> password; with ``generate`` False, roles without a known password
        are left out.

    Raises:
        ConfigurationError: with ``generate`` and ``refuse_unknown``, a role in
            ``existing`` has no known password (it would otherwise be changed behind the
            user's back).
    """
    path = secrets_path(settings)
    store = _read_store(path)
    passwords: dict[str, SecretStr] = {}
    changed = False
    unknown = []
    for role in LOGIN_ROLES:
        configured = getattr(settings, f"{_SETTING_PREFIX[role]}_password")
        if rotate:
            value = (
                configured.get_secret_value()
                if configured is not None
                else secrets.token_urlsafe(32)
            )
            store[role] = value
            passwords[role] = SecretStr(value)
            changed = True
        elif configured is not None:
            passwords[role] = configured
        elif role in store:
            passwords[role] = SecretStr(store[role])
        elif generate and role in existing:
            unknown.append(role)
        elif generate:
            store[role] = secrets.token_urlsafe(32)
            passwords[role] = SecretStr(store[role])
            changed = True
    if unknown and refuse_unknown:
        raise unknown_password_error(unknown, path)
    if changed:
        _write_store(path, store)
    return passwords


def role_plan_from_settings(
    settings: Settings,
    *,
    generate_passwords: bool,
    existing_roles: Collection[str] = (),
    rotate_passwords: bool = False,
    refuse_unknown: bool = True,
) -> RolePlan:
    """The role plan medz1 applies and checks, from settings.

    Raises:
        ConfigurationError: see :func:`role_passwords`.
    """
    return RolePlan(
        specs=role_specs(settings.role_limits()),
        matrix=declared_matrix(metadata, SCHEMAS, station_scoping=settings.station_scoping),
        passwords=role_passwords(
            settings,
            generate=generate_passwords,
            existing=existing_roles,
            rotate=rotate_passwords,
            refuse_unknown=refuse_unknown,
        ),
        rotate=rotate_passwords,
    )
