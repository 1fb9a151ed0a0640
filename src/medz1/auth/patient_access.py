"""Audited patient reads: the one entry point of the web service and of Python callers.

Every read of a patient's data writes one ``patient_view`` audit row (who, which patient,
which page) in the transaction of the read, so the row commits with it or the read fails
(S17, HIPAA access log). :func:`audited_read` is that step for any read function;
:func:`view_chart` is the dashboard; :func:`open_chart` is the whole view for a Python
caller holding a session token: the session checked, the chart read and the view audited
in one transaction, committed (and its signed checkpoint on disk, S19) before it returns.

The reads run scoped to the reader's home station and session (row-level security,
:func:`medz1.dal.session.set_scope`), about the one patient read. The audit row is written
last, after every read of the transaction: its insert trigger locks the chain head until
commit, so the lock is held only for the insert and the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medz1.auth import audit, sessions
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.config import AuthConfig
from medz1.auth.errors import SessionInvalid
from medz1.auth.records import SessionRecord, UserRecord
from medz1.dal.chart import Chart, patient_chart
from medz1.dal.session import Scope, set_scope
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated

__all__ = ["ChartView", "Reader", "audited_read", "open_chart", "view_chart"]

T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    """Who reads and from where: the audit row's fields and the reads' station scope.

    Attributes:
        user_id: the user (``auth.users.user_id``).
        email: the user's e-mail, written into the audit row.
        session_id: the session; its break-the-glass grants apply to the reads.
        home_station: the user's home station (sta3n); None sees only granted patients.
        ip_address: the client's address, if known.
        user_agent: the client's User-Agent, if known (at most 1,024 characters).
    """

    user_id: uuid.UUID
    email: str | None
    session_id: uuid.UUID
    home_station: int | None
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(
        cls,
        user: UserRecord,
        session: SessionRecord,
        *,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> Reader:
        """The reader of a validated session (:func:`medz1.auth.sessions.validate`)."""
        return cls(
            user.user_id,
            user.email,
            session.session_id,
            user.home_site_sta3n,
            ip_address,
            user_agent,
        )


def audited_read(
    db: Session,
    reader: Reader,
    patient_key: str,
    page: str,
    read: Callable[[Session], T | None],
) -> T | None:
    """Run ``read(db)`` as ``reader`` about ``patient_key``; audit it when it found data.

    In the caller's transaction: scope it (station, session, patient), call ``read``, and
    when the result is not None write one ``patient_view`` row with ``details`` =
    ``{"patient_key": ..., "page": page}``. None (no such patient, or one the reader may not
    see) is returned unaudited. The caller commits; the view is durable only then.

    Call it after every other lock the transaction takes (see :func:`audit.record`).

    Raises:
        sqlalchemy.exc.DBAPIError: a read or the audit insert failed; the caller's
            transaction must roll back, and nothing read may be shown (S17).
        DataError: the audit row was not stored (see :func:`audit.record`).
    """
    scope = Scope.of_user(reader.home_station, reader.session_id).about(patient_key)
    set_scope(db, scope)
    found = read(db)
    if found is None:
        return None
    event = Event(
        AuditEvent.PATIENT_VIEW,
        user_id=reader.user_id,
        email=reader.email,
        ip_address=reader.ip_address,
        user_agent=reader.user_agent,
        session_id=reader.session_id,
        details={"patient_key": patient_key, "page": page},
    )
    audit.record(db, [event])
    return found


def view_chart(db: Session, reader: Reader, patient_key: str) -> Chart | None:
    """The patient's dashboard (:func:`medz1.dal.chart.patient_chart`), audited as page
    ``chart`` in the caller's transaction; None, unaudited, when the reader finds no such
    patient.

    Raises:
        sqlalchemy.exc.DBAPIError: see :func:`audited_read`.
        DataError: see :func:`audited_read`.
    """
    return audited_read(
        db, reader, patient_key, "chart", lambda s: patient_chart(s, patient_key=patient_key)
    )


@dataclass(frozen=True)
class ChartView:
    """One audited dashboard view: the chart (None: no such patient for this reader,
    nothing audited), and the user and session that read it.
    """

    chart: Chart | None
    user: UserRecord
    session: SessionRecord


def open_chart(
    engine: Engine,
    *,
    token: str,
    patient_key: str,
    config: AuthConfig,
    now: datetime | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> ChartView:
    """Check the session ``token`` and read and audit the chart, in one transaction.

    What the web service's dashboard does, for a Python caller: the session is validated
    (a timed-out one is ended and audited, the idle expiry slides, S14), the chart is read
    as the user's station and session, the ``patient_view`` row is written, and all of it
    commits before this returns, with the row's signed checkpoint fsynced when a
    checkpoint log is installed (S19). ``engine`` connects as the application role.

    Raises:
        SessionInvalid: the token opens no usable session (nothing read or audited).
        Medz1Error: a read or the audit insert failed, translated by SQLSTATE (a
            statement timeout, a refused privilege); nothing is returned (S17).
    """
    at = now if now is not None else datetime.now(UTC)
    with translated(), unit_of_work(engine) as db:
        check = sessions.validate(db, token=token, now=at, config=config)
        if check.valid and check.user is not None and check.session is not None:
            reader = Reader.of(
                check.user, check.session, ip_address=ip_address, user_agent=user_agent
            )
            chart = view_chart(db, reader, patient_key)
            return ChartView(chart, check.user, check.session)
    raise SessionInvalid
