"""Per-user preferences of the viewer (``admin.user_preferences``), typed by a declared schema.

A user's preferences are one JSON object: the keys of :data:`PREFERENCES`, each with its
declared type, range and default. They are stored one row per user and key (the form the
web service already reads for ``time_zone``); a key never set reads as its default. The
rows belong to the user: the foreign key to ``auth.users`` deletes them with the user.
Every value is checked before anything is written, and :func:`set_preferences` writes all
of its values or none. Functions take a session and never commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.admin.schema import Field, InvalidValueError, declared
from medz1.auth import users
from medz1.auth.inputs import require_utc

PREFERENCES: dict[str, Field] = {
    field.key: field
    for field in (
        Field(
            "time_zone",
            "time_zone",
            "Time zone the viewer shows times in (stored times stay UTC)",
            "UTC",
            kind="preference",
        ),
        Field(
            "patients.list_size",
            "int",
            "Patients shown per page of a patient list",
            25,
            kind="preference",
            minimum=10,
            maximum=200,
            unit="patients",
        ),
        Field(
            "vitals.default_range_days",
            "int",
            "Days of vital signs the chart shows first",
            90,
            kind="preference",
            minimum=1,
            maximum=3650,
            unit="days",
        ),
        Field(
            "medications.show_inactive",
            "bool",
            "Whether the medication list shows discontinued and expired orders",
            default=False,
            kind="preference",
        ),
    )
}

_COMMAND = "medz1 prefs get EMAIL"

_UPSERT = text(
    "INSERT INTO admin.user_preferences (user_id, preference_key, value, updated_at) "
    "VALUES (:user_id, :key, CAST(:value AS jsonb), :now) "
    "ON CONFLICT (user_id, preference_key) DO UPDATE SET value = EXCLUDED.value, "
    "updated_at = EXCLUDED.updated_at"
)


def field_of(key: object) -> Field:
    """The declaration of preference ``key``.

    Raises:
        UnknownKeyError: no preference is declared under ``key`` (exit 6).
    """
    return declared(PREFERENCES, key, kind="preference", command=_COMMAND)


def get_preferences(session: Session, *, user_id: uuid.UUID) -> dict[str, Any]:
    """The user's preferences: every declared key, stored value or default.

    Stored values that no longer match their declaration (written by other means) and
    stored keys that are not declared are left out; their defaults apply.

    Args:
        session: a session as the application role.
        user_id: the user.

    Returns:
        Every declared key with its value.

    Raises:
        NotFoundError: no such user.
    """
    users.get_user(session, user_id=user_id)
    stored = {
        row.preference_key: row.value
        for row in session.execute(
            text(
                "SELECT preference_key, value FROM admin.user_preferences WHERE user_id = :user_id"
            ),
            {"user_id": user_id},
        )
    }
    result: dict[str, Any] = {}
    for key, field in sorted(PREFERENCES.items()):
        try:
            result[key] = field.check(stored[key]) if key in stored else field.default
        except InvalidValueError:
            result[key] = field.default
    return result


def check_preferences(values: Mapping[object, object]) -> dict[str, Any]:
    """``values`` checked against the declarations, before anything is written.

    Raises:
        UnknownKeyError: a key is not declared (exit 6).
        InvalidValueError: a value is not of its declared type and range (exit 8).
    """
    checked: dict[str, Any] = {}
    for key, value in values.items():
        field = field_of(key)
        checked[field.key] = field.check(value)
    return checked


def set_preferences(
    session: Session,
    *,
    user_id: uuid.UUID,
    values: Mapping[object, object],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store ``values`` (key -> JSON value) for the user, all or none; return them all.

    Args:
        session: a session as the application role.
        user_id: the user.
        values: declared keys and their JSON values.
        now: the clock (aware); None for this machine's clock.

    Raises:
        UnknownKeyError: a key is not declared (exit 6).
        InvalidValueError: a value is not of its declared type and range (exit 8).
        NotFoundError: no such user (exit 6).
        UsageError: ``now`` is naive.
    """
    checked = check_preferences(values)
    at = require_utc(now or datetime.now(UTC))
    users.get_user(session, user_id=user_id, lock=True)
    for key, value in checked.items():
        session.execute(
            _UPSERT, {"user_id": user_id, "key": key, "value": json.dumps(value), "now": at}
        )
    return get_preferences(session, user_id=user_id)


def set_preference_text(
    session: Session,
    *,
    user_id: uuid.UUID,
    key: object,
    typed: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Set one preference from the text typed on the command line (``Field.parse``).

    Args:
        session: a session as the application role.
        user_id: the user.
        key: the preference's key.
        typed: the value as typed.
        now: the clock (aware); None for this machine's clock.

    Returns:
        Every declared preference of the user, with its value.

    Raises:
        UnknownKeyError: no preference is declared under ``key`` (exit 6).
        InvalidValueError: ``typed`` is not a value of the declared type and range (exit 8).
        NotFoundError: no such user (exit 6).
    """
    field = field_of(key)
    return set_preferences(
        session, user_id=user_id, values={field.key: field.parse(typed)}, now=now
    )
