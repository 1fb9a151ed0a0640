"""Sessions for reads: one per request, ended by COMMIT so prepared statements survive.

psycopg prepares a statement on a connection once it has run a few times there
(``prepare_threshold``) and then skips parsing and planning it; for the one-statement
chart, planning is most of the server's work. But psycopg forgets every prepared
statement of a connection when a transaction on it ends with ROLLBACK, which is how a
plain ``Session`` ends (``close()`` rolls back). A read session therefore runs its
transaction READ ONLY and ends it with COMMIT: nothing can be written through it, and the
pooled connection goes back to the pool with its prepared statements.

Station scoping (row-level security, migration 0010): the clinical tables show the
application role only the patients of the transaction's station (``medz1.station``) plus
those opened by break-the-glass for the transaction's session (``medz1.session``). Both
are set per transaction with ``set_config(..., true)`` (:func:`set_scope`), so nothing
outlives the transaction: a pooled or PgBouncer-shared connection carries no station to
the next client. A transaction without a scope sees no clinical row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.errors import UsageError

STATION_PATTERN: Final = r"^[0-9]{3}[A-Za-z0-9]{0,7}$"
"""A VA station number (sta3n, 3 digits, optionally a division suffix), as stored in
``patient_demographics.primary_station``."""
_STATION = re.compile(STATION_PATTERN)
_SET_SCOPE = text(
    "SELECT pg_catalog.set_config('medz1.station', :station, true), "
    "pg_catalog.set_config('medz1.session', :session, true), "
    "pg_catalog.set_config('medz1.patient', :patient, true)"
)


@dataclass(frozen=True)
class Scope:
    """Whose reads these are: the station whose patients they see, the session whose
    break-the-glass grants apply (None: no grant applies), and optionally the one patient
    the reads are about.

    ``patient_key`` never widens what is visible; it lets the clinical tables' policies
    check that patient once per statement instead of once per row (the chart's speed).
    """

    station: str | None
    session_id: uuid.UUID | None = None
    patient_key: str | None = None

    def about(self, patient_key: str) -> Scope:
        """This scope, for reads of ``patient_key``."""
        return Scope(self.station, self.session_id, patient_key)

    @classmethod
    def of_user(cls, home_site_sta3n: int | None, session_id: uuid.UUID | None) -> Scope:
        """The scope of a logged-in user: their home station (``auth.users.home_site_sta3n``)
        and their session. A user without a home station sees only break-the-glass grants.

        Args:
            home_site_sta3n: the user's home station number, or None.
            session_id: the user's session id (its break-the-glass grants), or None.

        Returns:
            The scope to pass to :func:`read_session` or :func:`set_scope`.
        """
        return cls(None if home_site_sta3n is None else str(home_site_sta3n), session_id)


def check_station(station: str) -> str:
    """``station`` when it is a station number (``STATION_PATTERN``).

    Raises:
        UsageError: anything else (exit 2), before the database is asked.
    """
    if not isinstance(station, str) or _STATION.fullmatch(station) is None:
        raise UsageError(
            "the station is not a VA station number",
            hint="give 3 digits, optionally followed by a division suffix (e.g. 508 or 508A4)",
        )
    return station


def set_scope(session: Session, scope: Scope) -> None:
    """Set the station and session of ``session``'s current transaction (``is_local``).

    A station that is not a station number is sent as the empty string, which matches no
    patient (fail closed); so is a missing one.

    Args:
        session: the session whose current transaction is scoped.
        scope: the station number (sta3n) and session id the row security policies read.
    """
    station = scope.station if scope.station and _STATION.fullmatch(scope.station) else ""
    session.execute(
        _SET_SCOPE,
        {
            "station": station,
            "session": str(scope.session_id) if scope.session_id else "",
            "patient": scope.patient_key or "",
        },
    )


@contextmanager
def read_session(engine: Engine, scope: Scope | None = None) -> Iterator[Session]:
    """Yield a session whose transaction is read-only and ends with COMMIT.

    With ``scope``, the transaction reads as that station and session (:func:`set_scope`).
    An exception inside the block rolls back instead (and so costs the connection its
    prepared statements); the session is closed either way.

    Raises:
        sqlalchemy.exc.DBAPIError: Any driver error of the reads, unchanged; a write
            raises SQLSTATE 25006 (read-only transaction).
    """
    with Session(engine, autoflush=False, expire_on_commit=False) as session:
        session.connection(execution_options={"postgresql_readonly": True})
        if scope is not None:
            set_scope(session, scope)
        yield session
        session.commit()
