"""System-wide settings of the viewer (``admin.system_settings``), typed by a declared schema.

Every key medz1 knows is declared in :data:`SETTINGS` (type, range, default,
description); a key that is not declared cannot be read or written. A row exists only for
a setting someone changed; reading any other gives its default. Every change records who
and when in the row and writes a ``setting_changed`` audit event (old and new value) into
the hash chain in the same transaction, so a change whose audit row fails is not made
(S16, S17). Functions take a session and never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.admin.schema import Field, InvalidValueError, declared
from medz1.auth import audit
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.inputs import as_utc, require_utc

SETTINGS: dict[str, Field] = {
    field.key: field
    for field in (
        Field(
            "viewer.banner_message",
            "text",
            "Notice shown at the top of every page of the viewer (empty: none)",
            "",
            max_length=500,
        ),
        Field(
            "viewer.maintenance_mode",
            "bool",
            "When true the viewer shows a maintenance page to everyone but administrators",
            default=False,
        ),
        Field(
            "patients.search_page_size",
            "int",
            "Patients listed per page of a search",
            25,
            minimum=10,
            maximum=200,
            unit="patients",
        ),
        Field(
            "ai.search_min_similarity",
            "float",
            "Smallest cosine similarity of a chart passage shown by the chart search",
            0.3,
            minimum=0.0,
            maximum=1.0,
        ),
    )
}

_COMMAND = "medz1 settings list"


@dataclass(frozen=True)
class Setting:
    """One setting: its declaration and its current value (the default when never set)."""

    field: Field
    value: Any
    updated_at: datetime | None
    updated_by: str | None

    @property
    def key(self) -> str:
        """The setting's key."""
        return self.field.key

    @property
    def is_default(self) -> bool:
        """True when the setting was never changed (no row)."""
        return self.updated_at is None

    def as_json(self) -> dict[str, Any]:
        """The setting as JSON-ready values."""
        return {
            **self.field.as_json(),
            "value": self.value,
            "is_default": self.is_default,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class SettingChange:
    """The outcome of :func:`set_setting`: the setting now, and whether anything changed."""

    setting: Setting
    changed: bool


_SELECT = (
    "SELECT setting_key, value, updated_at, updated_by FROM admin.system_settings "
    "WHERE setting_key = :key"
)
_UPSERT = text(
    "INSERT INTO admin.system_settings (setting_key, value, description, updated_at, updated_by) "
    "VALUES (:key, CAST(:value AS jsonb), :description, :now, :actor) "
    "ON CONFLICT (setting_key) DO UPDATE SET value = EXCLUDED.value, "
    "description = EXCLUDED.description, updated_at = EXCLUDED.updated_at, "
    "updated_by = EXCLUDED.updated_by"
)


def field_of(key: object) -> Field:
    """The declaration of setting ``key``.

    Raises:
        UnknownKeyError: no setting is declared under ``key`` (exit 6).
    """
    return declared(SETTINGS, key, kind="setting", command=_COMMAND)


def _setting(field: Field, row: Any | None) -> Setting:
    if row is None:
        return Setting(field, field.default, None, None)
    try:
        value = field.check(row.value)
    except InvalidValueError:  # a row written by other means: its default applies
        value = field.default
    return Setting(field, value, as_utc(row.updated_at), row.updated_by)


def list_settings(session: Session) -> list[Setting]:
    """Every declared setting with its current value, by key.

    A stored value that no longer matches the declaration (written by other means) reads
    as the default.
    """
    rows = {
        row.setting_key: row
        for row in session.execute(
            text("SELECT setting_key, value, updated_at, updated_by FROM admin.system_settings")
        )
    }
    return [_setting(field, rows.get(key)) for key, field in sorted(SETTINGS.items())]


def get_setting(session: Session, key: object) -> Setting:
    """The setting ``key`` and its current value.

    Args:
        session: a session as the application role.
        key: the setting's key.

    Raises:
        UnknownKeyError: no setting is declared under ``key``.
    """
    field = field_of(key)
    row = session.execute(text(_SELECT), {"key": field.key}).first()
    return _setting(field, row)


def value_of(session: Session, key: object) -> Any:
    """The current value of setting ``key`` (its default when never set).

    Args:
        session: a session as the application role.
        key: the setting's key.

    Returns:
        The value, of the setting's declared type.

    Raises:
        UnknownKeyError: no setting is declared under ``key``.
    """
    return get_setting(session, key).value


def set_setting(
    session: Session,
    key: object,
    value: object,
    *,
    actor: str,
    now: datetime | None = None,
) -> SettingChange:
    """Change setting ``key`` to ``value``, recording who and when, audited.

    The value is checked against the declaration before anything is read or written. The
    row is locked while it changes; a value equal to the current one changes nothing and
    writes no audit row. Otherwise the row is written with ``updated_by = actor`` and
    ``updated_at = now``, then a ``setting_changed`` event (key, old and new value, actor)
    goes into the audit chain in the same transaction (S16).

    Args:
        session: the caller's transaction (not committed here).
        key: a declared setting key.
        value: the new value, of the declared JSON type.
        actor: who makes the change (an e-mail address or ``cli:<user>``), at most 100
            characters.
        now: the time of the change (aware); default the current time.

    Raises:
        UnknownKeyError: no setting is declared under ``key`` (exit 6).
        InvalidValueError: ``value`` is not of the declared type and range (exit 8).
        UsageError: ``now`` is naive.
    """
    field = field_of(key)
    checked = field.check(value)
    at = require_utc(now or datetime.now(UTC))
    row = session.execute(text(_SELECT + " FOR UPDATE"), {"key": field.key}).first()
    before = _setting(field, row)
    if row is not None and before.value == checked and type(before.value) is type(checked):
        return SettingChange(before, changed=False)
    who = actor[:100]
    session.execute(
        _UPSERT,
        {
            "key": field.key,
            "value": json.dumps(checked),
            "description": field.description,
            "now": at,
            "actor": who,
        },
    )
    audit.record(
        session,
        [
            Event(
                AuditEvent.SETTING_CHANGED,
                details={
                    "setting_key": field.key,
                    "old_value": before.value,
                    "new_value": checked,
                    "actor": who,
                },
            )
        ],
    )
    return SettingChange(Setting(field, checked, at, who), changed=True)


def set_setting_text(
    session: Session, key: object, typed: str, *, actor: str, now: datetime | None = None
) -> SettingChange:
    """:func:`set_setting` with the value as typed on the command line (``Field.parse``).

    Args:
        session: a session as the application role.
        key: the setting's key.
        typed: the value as typed.
        actor: who changes it (an e-mail address or ``system``), in the audit row.
        now: the clock (aware); None for this machine's clock.

    Returns:
        The setting after the call, and whether it changed.

    Raises:
        UnknownKeyError: no setting is declared under ``key`` (exit 6).
        InvalidValueError: ``typed`` is not a value of the declared type and range (exit 8).
    """
    field = field_of(key)
    return set_setting(session, field.key, field.parse(typed), actor=actor, now=now)
