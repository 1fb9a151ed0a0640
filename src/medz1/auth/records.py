"""Frozen records the authentication store returns: users and sessions, never their secrets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medz1.auth.inputs import as_utc

_USER_TIMES = (
    "locked_until",
    "last_login_at",
    "created_at",
    "updated_at",
    "password_changed_at",
    "disabled_at",
    "enabled_at",
)
_SESSION_TIMES = ("created_at", "last_activity_at", "expires_at", "absolute_expires_at")


def select_list(columns: tuple[str, ...], alias: str, prefix: str = "") -> str:
    """``alias.col AS prefixcol, ...`` for a SELECT."""
    return ", ".join(f"{alias}.{column} AS {prefix}{column}" for column in columns)


@dataclass(frozen=True)
class UserRecord:
    """A user as the store shows it: no password hash."""

    user_id: uuid.UUID
    email: str
    display_name: str
    first_name: str | None
    last_name: str | None
    home_site_sta3n: int | None
    is_active: bool
    is_locked: bool
    locked_until: datetime | None
    failed_login_attempts: int
    last_login_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    created_by: str | None
    password_changed_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    enabled_at: datetime | None

    def locked_at(self, now: datetime) -> bool:
        """True while a lock holds at ``now`` (an administrator's lock has no end)."""
        return self.is_locked and (self.locked_until is None or self.locked_until > now)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], prefix: str = "") -> UserRecord:
        """Build from a result row holding :data:`USER_COLUMNS` (with ``prefix``)."""
        values = {column: row[prefix + column] for column in USER_COLUMNS}
        for column in _USER_TIMES:
            values[column] = as_utc(values[column])
        # The contract allows NULL in these flags; NULL reads as the column's default.
        values["is_active"] = values["is_active"] is not False
        values["is_locked"] = values["is_locked"] is True
        values["failed_login_attempts"] = int(values["failed_login_attempts"] or 0)
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            key: (
                value.isoformat()
                if isinstance(value, datetime)
                else str(value)
                if isinstance(value, uuid.UUID)
                else value
            )
            for key, value in self.__dict__.items()
        }


@dataclass(frozen=True)
class SessionRecord:
    """A login session as the store shows it: its public id, never its token or hash."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime | None
    last_activity_at: datetime | None
    expires_at: datetime
    absolute_expires_at: datetime
    is_active: bool
    ip_address: str | None
    user_agent: str | None

    def ends_at(self) -> datetime:
        """When the session ends unless used again: the earlier of both timeouts."""
        return min(self.expires_at, self.absolute_expires_at)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], prefix: str = "") -> SessionRecord:
        """Build from a result row holding :data:`SESSION_COLUMNS` (with ``prefix``)."""
        values = {column: row[prefix + column] for column in SESSION_COLUMNS}
        for column in _SESSION_TIMES:
            values[column] = as_utc(values[column])
        values["is_active"] = values["is_active"] is True
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            key: (
                value.isoformat()
                if isinstance(value, datetime)
                else str(value)
                if isinstance(value, uuid.UUID)
                else value
            )
            for key, value in self.__dict__.items()
        }


#: Columns of ``auth.users`` that make a :class:`UserRecord` (never ``password_hash``): the
#: record's fields, in order; ``tests/unit/test_auth_columns.py`` checks them against the model.
USER_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UserRecord))
#: Columns of ``auth.sessions`` that make a :class:`SessionRecord` (never ``token_hash``).
SESSION_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SessionRecord))
