"""The UTC timestamp type refuses naive datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql

from medz1.db.types import NaiveDatetimeError, UTCDateTime

DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError, match="attach a time zone"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1, 12, 0), DIALECT)


def test_aware_datetime_is_stored_as_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    stored = UTCDateTime().process_bind_param(datetime(2026, 1, 1, 7, 0, tzinfo=eastern), DIALECT)
    assert stored == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


def test_none_passes_through() -> None:
    assert UTCDateTime().process_bind_param(None, DIALECT) is None
