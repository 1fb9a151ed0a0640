"""Column types shared by the models.

``UTCDateTime`` stores ``timestamptz`` and refuses naive datetimes on the way in, so a
local wall-clock time can never be written as if it were UTC. Values read back are
converted to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone was given where UTC is required."""


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamp with time zone`` that accepts only aware datetimes and returns UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The aware ``value`` in UTC; a naive one raises :class:`NaiveDatetimeError`."""
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise NaiveDatetimeError(
                f"naive datetime {value.isoformat()} refused: attach a time zone "
                "(for example datetime.now(UTC))"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored instant as an aware UTC ``datetime``."""
        if value is None:
            return None
        if value.tzinfo is None:  # pragma: no cover - timestamptz always returns aware values
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def __repr__(self) -> str:
        return "UTCDateTime()"

    @property
    def python_type(self) -> type[Any]:
        """``datetime``."""
        return datetime
