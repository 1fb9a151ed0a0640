"""Patient reads of the service, each audited in the same transaction (S33).

Patient views go through :mod:`medz1.auth.patient_access` (the entry point Python callers
use too): the ``*_in`` functions run in the caller's transaction, which the routes open
with :func:`medz1.api.security.authenticated` (session check, read and audit row, one
commit); :func:`chart` and :func:`domain` open their own. When a patient's data was read,
one ``patient_view`` audit event (who, which patient, which page, when) is written before
the commit: if the audit row cannot be written, the read fails too (fail closed, S17).
Searches are not patient views and are not audited per patient.

Every read transaction is scoped to the user's home station and session
(:func:`medz1.dal.session.set_scope`): row-level security then shows only the patients of
that station, plus those opened by :func:`break_glass` (a reason, audited, time-limited).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.api.problems import ServiceProblem
from medz1.api.security import Principal
from medz1.api.service import Service
from medz1.auth import break_glass as glass
from medz1.auth.inputs import has_control_characters
from medz1.auth.patient_access import Reader, audited_read, view_chart
from medz1.dal import labs, medications, patients
from medz1.dal.chart import Chart
from medz1.dal.session import Scope, set_scope
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.errors import UsageError

MAX_PAGE_SIZE: Final = 100
"""Largest page the service serves (the read layer allows more)."""
MAX_PAGE_NUMBER: Final = 10_000
DOMAINS: Final = (
    "demographics",
    "vitals",
    "flags",
    "allergies",
    "medications",
    "encounters",
    "labs",
)
ICN_PATTERN: Final = r"^[A-Za-z0-9]{1,32}$"
"""An ICN as medz1 stores it; anything else is refused before the database is asked."""
_ICN = re.compile(ICN_PATTERN)
TIME_ZONE_KEY: Final = "time_zone"
UTC_ZONE: Final = ZoneInfo("UTC")


@dataclass(frozen=True)
class Paged:
    """One page of a domain's records."""

    items: list[Any]
    page: int
    size: int
    has_next: bool


@dataclass(frozen=True)
class Viewer:
    """Who is looking and from where, for the audit row."""

    principal: Principal
    ip: str | None
    user_agent: str | None


def valid_icn(icn: str) -> bool:
    """True when ``icn`` has the shape of an ICN (letters and digits, 1 to 32)."""
    return _ICN.fullmatch(icn) is not None


def reader(viewer: Viewer) -> Reader:
    """The audited reader (:mod:`medz1.auth.patient_access`) of a viewer."""
    principal = viewer.principal
    return Reader.of(
        principal.user, principal.session, ip_address=viewer.ip, user_agent=viewer.user_agent
    )


def not_found(icn: str) -> ServiceProblem:
    """The 404 of a patient the viewer cannot open (unknown, or of another station)."""
    # Row security hides whether a patient of another station exists: same answer.
    return ServiceProblem(
        404,
        f"no patient has ICN {icn} at your station; a patient of another station, or a "
        "sensitive one, opens with a reason (break the glass)",
    )


def _scoped(db: Session, principal: Principal, icn: str | None = None) -> None:
    """Scope ``db``'s transaction to the user's home station and session (and the patient
    ``icn`` the reads are about).
    """
    scope = Scope.of_user(principal.user.home_site_sta3n, principal.session.session_id)
    set_scope(db, scope.about(icn) if icn else scope)


def break_glass(
    service: Service, viewer: Viewer, icn: str, reason: object, *, minutes: int | None = None
) -> glass.Grant:
    """Open patient ``icn`` to the viewer's session for ``minutes``, with ``reason``.

    Written to ``auth.break_glass_grants`` and audited as ``break_glass`` in one
    transaction, which then reads the patient through the new grant: when there is no such
    patient, the transaction rolls back (no grant, no audit row) and the answer is 404.

    Raises:
        UsageError: no reason or a bad one, a bad duration (nothing written).
        ServiceProblem: 404 for an unknown patient (nothing written).
    """
    with translated(), unit_of_work(service.engine) as db:
        made = glass.grant(
            db,
            session_id=viewer.principal.session.session_id,
            patient_key=icn,
            reason=reason,
            user_id=viewer.principal.user.user_id,
            email=viewer.principal.user.email,
            ip_address=viewer.ip,
            user_agent=viewer.user_agent,
            minutes=glass.DEFAULT_MINUTES if minutes is None else minutes,
        )
        _scoped(db, viewer.principal, icn)
        if patients.demographics(db, patient_key=icn) is None:
            # Raised inside the unit of work: the grant and its audit row roll back.
            raise not_found(icn)
        return made


def chart(service: Service, viewer: Viewer, icn: str) -> Chart:
    """The patient's dashboard (one statement), audited as page ``chart``.

    Raises:
        ServiceProblem: 404 for an unknown patient (nothing is audited then).
    """
    with translated(), unit_of_work(service.engine) as db:
        found = chart_in(db, viewer, icn)
    if found is None:
        raise not_found(icn)
    return found


def chart_in(db: Session, viewer: Viewer, icn: str) -> Chart | None:
    """:func:`chart` in the caller's transaction (None, unaudited: no such patient)."""
    return view_chart(db, reader(viewer), icn)


def _sliced(items: list[Any], page: int, size: int) -> Paged:
    start = (page - 1) * size
    return Paged(items[start : start + size], page, size, has_next=len(items) > start + size)


def _fetched(items: list[Any], page: int, size: int) -> Paged:
    """A page read with ``limit = size + 1``: the extra row says a next page exists."""
    return Paged(items[:size], page, size, has_next=len(items) > size)


def _read(db: Session, domain: str, icn: str, page: int, size: int, option: str | None) -> Paged:
    rows: list[Any]
    offset = (page - 1) * size
    if domain == "demographics":
        found = patients.demographics(db, patient_key=icn)
        return Paged([found] if found else [], 1, size, has_next=False)
    if domain == "vitals":
        if option:
            rows = patients.vital_history(
                db, patient_key=icn, vital_abbr=option, limit=size + 1, offset=offset
            )
            return _fetched(rows, page, size)
        return _sliced(patients.latest_vitals(db, patient_key=icn), page, size)
    if domain == "flags":
        return _sliced(patients.active_flags(db, patient_key=icn), page, size)
    if domain == "allergies":
        return _sliced(patients.allergies(db, patient_key=icn), page, size)
    if domain == "medications":
        if option == "inpatient":
            rows = medications.inpatient_administrations(
                db, patient_key=icn, limit=size + 1, offset=offset
            )
            return _fetched(rows, page, size)
        return _sliced(medications.active_outpatient_medications(db, patient_key=icn), page, size)
    if domain == "encounters":
        rows = patients.recent_encounters(db, patient_key=icn, limit=size + 1, offset=offset)
        return _fetched(rows, page, size)
    if domain == "labs":
        panels = labs.recent_lab_panels(db, patient_key=icn, limit=size + 1, offset=offset)
        return _fetched(panels, page, size)
    raise ServiceProblem(404, f"no such domain: {domain}")


def domain(
    service: Service,
    viewer: Viewer,
    icn: str,
    name: str,
    *,
    page: int = 1,
    size: int = 20,
    option: str | None = None,
) -> Paged:
    """One page of one domain of a patient, audited as page ``name``.

    ``option`` is the vital type for ``vitals`` (history of that type, else the newest of
    each) and ``inpatient`` for ``medications`` (administrations, else active outpatient
    prescriptions).

    Raises:
        ServiceProblem: 404 for an unknown patient or domain.
        UsageError: the page is out of range.
    """
    with translated(), unit_of_work(service.engine) as db:
        found = domain_in(db, viewer, icn, name, page=page, size=size, option=option)
    if found is None:
        raise not_found(icn)
    return found


def domain_in(
    db: Session,
    viewer: Viewer,
    icn: str,
    name: str,
    *,
    page: int = 1,
    size: int = 20,
    option: str | None = None,
) -> Paged | None:
    """:func:`domain` in the caller's transaction (None, unaudited: no such patient).

    Raises:
        ServiceProblem: 404 for an unknown domain.
        UsageError: the page is out of range.
    """

    def read(db: Session) -> Paged | None:
        if patients.demographics(db, patient_key=icn) is None:
            return None
        return _read(db, name, icn, page, size, option)

    return audited_read(db, reader(viewer), icn, name, read)


def search(
    service: Service, query: str, *, page: int, size: int, principal: Principal | None = None
) -> Paged:
    """Patients by ICN, last-name prefix, ``LAST, FIRST`` prefixes or the last four SSN digits.

    Only the patients ``principal`` may open are found (station scoping); without a
    principal, none while scoping is on.

    Raises:
        UsageError: the query is blank or holds control characters (NUL cannot even be
            sent to PostgreSQL).
    """
    if has_control_characters(query):
        raise UsageError(
            "the search text holds control characters", hint="type a name, an ICN or 4 digits"
        )
    offset = (page - 1) * size
    with translated(), unit_of_work(service.engine) as db:
        if principal is not None:
            _scoped(db, principal)
        found = patients.search_patients(db, query=query, limit=size + 1, offset=offset)
    return _fetched(found.matches, page, size)


# -- the user's time zone (admin.user_preferences) -------------------------------------------

_GET_ZONE = text(
    "SELECT value #>> '{}' FROM admin.user_preferences WHERE user_id = :user_id AND "
    "preference_key = :key"
)
_SET_ZONE = text(
    "INSERT INTO admin.user_preferences (user_id, preference_key, value, updated_at) "
    "VALUES (:user_id, :key, to_jsonb(CAST(:zone AS text)), :now) "
    "ON CONFLICT (user_id, preference_key) DO UPDATE SET value = EXCLUDED.value, "
    "updated_at = EXCLUDED.updated_at"
)


def zone_names() -> list[str]:
    """Every IANA time zone name, sorted."""
    return sorted(available_timezones())


def time_zone(service: Service, principal: Principal) -> ZoneInfo:
    """The user's time zone preference; UTC when none is set or it is no longer known."""
    with translated(), unit_of_work(service.engine) as db:
        return zone_in(db, principal)


def zone_in(db: Session, principal: Principal) -> ZoneInfo:
    """The user's time zone, read in the caller's transaction (UTC when unset or unknown)."""
    name = db.execute(_GET_ZONE, {"user_id": principal.user.user_id, "key": TIME_ZONE_KEY}).scalar()
    try:
        return ZoneInfo(name) if name else UTC_ZONE
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def set_time_zone(service: Service, principal: Principal, name: str) -> None:
    """Store the user's time zone (an IANA name); times are stored in UTC regardless.

    Raises:
        ServiceProblem: 422 when ``name`` is not an IANA time zone.
    """
    if name not in available_timezones():
        raise ServiceProblem(422, "unknown time zone; choose one from the list")
    with translated(), unit_of_work(service.engine) as db:
        db.execute(
            _SET_ZONE,
            {
                "user_id": principal.user.user_id,
                "key": TIME_ZONE_KEY,
                "zone": name,
                "now": service.clock(),
            },
        )
