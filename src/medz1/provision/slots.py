"""Connection slots: the login roles' limits must fit the server's ordinary slots (S36).

PostgreSQL keeps ``superuser_reserved_connections`` (and, from version 16,
``reserved_connections`` for roles with ``pg_use_reserved_connections``) of
``max_connections`` back; every other role shares the rest. When the limits of medz1's
login roles add up to more than that, one role (the application, under load) can take
every ordinary slot and lock the reporting, loader and auditor roles out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.errors import ConfigurationError
from medz1.provision.declared import ADMIN_HEADROOM_CONNECTIONS, LOGIN_ROLES, RoleSpec


@dataclass(frozen=True)
class Slots:
    """The server's connection settings."""

    max_connections: int
    superuser_reserved: int
    reserved: int

    @property
    def ordinary(self) -> int:
        """Slots every non-superuser role shares."""
        return self.max_connections - self.superuser_reserved - self.reserved

    @property
    def available(self) -> int:
        """Ordinary slots left for the login roles once the administrator's headroom is kept."""
        return self.ordinary - ADMIN_HEADROOM_CONNECTIONS


def server_slots(conn: Connection) -> Slots:
    """Read ``max_connections`` and the reserved slots from the server."""
    row = conn.execute(
        text(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            "COALESCE(current_setting('reserved_connections', true), '0')::int"
        )
    ).one()
    return Slots(int(row[0]), int(row[1]), int(row[2]))


def overcommit(limits: Mapping[str, int], slots: Slots) -> str | None:
    """Why ``limits`` (role -> CONNECTION LIMIT, -1 unlimited) do not fit; None if they do."""
    unlimited = sorted(role for role, limit in limits.items() if limit < 0)
    if unlimited:
        return (
            f"{', '.join(unlimited)} may open unlimited connections, but the server has "
            f"{slots.ordinary} ordinary slots for all roles"
        )
    total = sum(limits.values())
    if total > slots.available:
        parts = " + ".join(f"{role} {limit}" for role, limit in sorted(limits.items()))
        return (
            f"the login roles' connection limits add up to {total} ({parts}), more than the "
            f"{slots.available} the server leaves them (max_connections {slots.max_connections}"
            f" - superuser_reserved_connections {slots.superuser_reserved} - "
            f"reserved_connections {slots.reserved} - {ADMIN_HEADROOM_CONNECTIONS} for the "
            "administrator)"
        )
    return None


def require_fit(conn: Connection, specs: tuple[RoleSpec, ...]) -> None:
    """Refuse declared limits that would let one role lock the others out (S36).

    Raises:
        ConfigurationError: the limits do not fit the server's ordinary slots.
    """
    limits = {s.name: s.limits.connection_limit for s in specs if s.login and s.limits}
    reason = overcommit(limits, server_slots(conn))
    if reason is not None:
        raise ConfigurationError(
            reason,
            hint="lower MEDZ1_APP_CONNECTION_LIMIT (or another role's limit), or raise the "
            "server's max_connections",
        )


def actual_limits(conn: Connection) -> dict[str, int]:
    """The CONNECTION LIMIT each existing medz1 login role has now."""
    rows = conn.execute(
        text("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY(:r)"),
        {"r": list(LOGIN_ROLES)},
    ).all()
    return {str(name): int(limit) for name, limit in rows}
