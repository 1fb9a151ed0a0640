"""Break-the-glass: a clinician opens a patient outside their station by giving a reason.

Row-level security (migration 0010) shows the application only the patients of the
transaction's station, and never a sensitive one (``patient_demographics.is_sensitive``),
as VistA's sensitive-record access does. :func:`grant` opens one patient for one session
for a limited time: it stores the grant in ``auth.break_glass_grants`` (the policies read
it) and writes a ``break_glass`` audit event (who, session, patient, reason, minutes) in
the caller's transaction, so a grant that cannot be audited is not made (S17). Times come
from the server's clock, the one the policies compare with.

Both are written by one SECURITY DEFINER function, ``auth.break_glass_open`` (migration
0015), which checks the reason again: the application role may execute it but may not
INSERT, UPDATE or DELETE grants, so no grant exists without its reason and audit row, and
none can be extended or hidden.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medz1.auth import audit
from medz1.auth.inputs import has_control_characters
from medz1.errors import UsageError

DEFAULT_MINUTES: Final = 30
"""How long a grant lasts unless the caller says otherwise."""
MAX_MINUTES: Final = 480
"""The longest grant: one shift."""
MAX_REASON_CHARACTERS: Final = 1000
_ICN = re.compile(r"^[A-Za-z0-9]{1,32}$")

#: The one way to write a grant (migration 0015): the database checks the reason again,
#: inserts the grant and appends its ``break_glass`` audit row, in the caller's transaction.
_OPEN = text(
    "SELECT grant_id, granted_at, expires_at, chain_seq, row_hash, "
    "pg_catalog.current_database() AS database "
    "FROM auth.break_glass_open(CAST(:session_id AS uuid), CAST(:patient_key AS text), "
    "CAST(:reason AS text), CAST(:minutes AS integer), CAST(:user_id AS uuid), "
    "CAST(:email AS text), CAST(:ip_address AS text), CAST(:user_agent AS text))"
)
#: SQLSTATE of a grant the database refuses (a reason, patient or duration it rejects).
_INVALID_PARAMETER = "22023"


@dataclass(frozen=True)
class Grant:
    """One break-the-glass grant."""

    grant_id: int
    session_id: uuid.UUID
    user_id: uuid.UUID | None
    patient_key: str
    granted_at: datetime
    expires_at: datetime


def check_reason(reason: object) -> str:
    """The reason, trimmed, when it is one.

    Raises:
        UsageError: no reason, a blank one, one with control characters other than line
            breaks, or one longer than ``MAX_REASON_CHARACTERS`` (exit 2).
    """
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(
            "break-the-glass needs a reason",
            hint="say why you open this patient (for example: covering for a colleague)",
        )
    cleaned = reason.strip()
    if has_control_characters(cleaned.replace("\n", " ").replace("\r", " ")):
        raise UsageError(
            "the break-the-glass reason holds control characters", hint="type plain text"
        )
    if len(cleaned) > MAX_REASON_CHARACTERS:
        raise UsageError(
            f"the break-the-glass reason is longer than {MAX_REASON_CHARACTERS} characters",
            hint="say it shorter",
        )
    return cleaned


def grant(
    session: Session,
    *,
    session_id: uuid.UUID,
    patient_key: str,
    reason: object,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    minutes: int = DEFAULT_MINUTES,
) -> Grant:
    """Open ``patient_key`` to ``session_id`` for ``minutes``, audited as ``break_glass``.

    The caller commits (grant and audit row together). Reads see the patient once their
    transaction's scope names ``session_id`` (:func:`medz1.dal.session.set_scope`). An
    unknown patient is granted too (the station policies hide whether a patient of another
    station exists); reading it finds nothing.

    Raises:
        UsageError: no or a bad reason (:func:`check_reason`), an ICN that is not one, or
            ``minutes`` outside 1..``MAX_MINUTES`` (exit 2); nothing is written.
            The database refusing the grant (SQLSTATE 22023) raises it too; the caller's
            transaction must then roll back.
        sqlalchemy.exc.DBAPIError: the grant or its audit row failed otherwise; the
            caller's transaction must roll back.
    """
    cleaned = check_reason(reason)
    if not isinstance(patient_key, str) or _ICN.fullmatch(patient_key) is None:
        raise UsageError("the patient is not an ICN", hint="give the patient's ICN (ICN100001)")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise UsageError(
            f"a break-the-glass grant lasts 1 to {MAX_MINUTES} minutes",
            hint=f"leave out the duration for {DEFAULT_MINUTES} minutes",
        )
    try:
        row = session.execute(
            _OPEN,
            {
                "session_id": session_id,
                "patient_key": patient_key,
                "reason": cleaned,
                "minutes": minutes,
                "user_id": user_id,
                "email": email,
                "ip_address": ip_address,
                "user_agent": user_agent,
            },
        ).one()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _INVALID_PARAMETER:
            raise UsageError(
                "the database refused the break-the-glass grant",
                hint=f"give a plain-text reason, the patient's ICN and 1 to {MAX_MINUTES} minutes",
            ) from exc
        raise
    # The audit row was written by the database: checkpoint it when the caller commits.
    audit.note_written(
        session, database=str(row.database), seq=int(row.chain_seq), row_hash=bytes(row.row_hash)
    )
    return Grant(
        grant_id=row.grant_id,
        session_id=session_id,
        user_id=user_id,
        patient_key=patient_key,
        granted_at=row.granted_at,
        expires_at=row.expires_at,
    )
