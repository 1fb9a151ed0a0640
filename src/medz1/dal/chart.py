"""The patient chart: the dashboard of all seven clinical domains in one round trip.

:func:`patient_chart` sends ONE statement, ``SELECT json_build_object('demographics', ...,
'vitals', ..., ...)::text``, whose parts are exactly the :class:`JsonRead` expressions the
per-domain read functions run on their own, and decodes the answer with the same result
builders. A chart therefore always equals what the per-domain functions return for the
patient, at the cost of one server round trip instead of nine.

The dashboard as the service shows it (the default list sizes) is also kept as one JSON
document per patient (``patient_chart_documents``), which the loader rebuilds for every
patient a load touched, in the load's own transaction (:func:`refresh_documents`): the
read after a load or an upsert commits shows it, and a reader never sees a document older
than the rows. :func:`patient_chart` then costs one primary-key lookup. The document
holds no fact relative to the present: age, stay lengths, "recent", review status and the
expiry of prescriptions are applied by the reader from its clock (``as_of``), by the same
rules the SQL of the per-domain reads follows. A patient without a document of the
current :data:`DOCUMENT_FORMAT` (a database written by something other than the loader,
or another list size) is read from the clinical tables with the one-statement chart.

Most of a chart's cost on a fresh connection is planning the statement, so it is meant to
run as a prepared statement: psycopg prepares a statement on a connection after a few
executions, and keeps it while transactions end with COMMIT. A ROLLBACK (how a plain
``Session`` ends) makes psycopg drop every prepared statement of the connection, so
request handlers read through :func:`medz1.dal.session.read_session`, which commits.
"""

from __future__ import annotations

import dataclasses
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from medz1.dal import labs, medications, patients
from medz1.dal.json_reads import JsonRead, bind_names, decode
from medz1.dal.labs import LabPanel
from medz1.dal.medications import InpatientAdministration, OutpatientMedication
from medz1.dal.patients import (
    Allergy,
    Demographics,
    Encounter,
    Flag,
    Vital,
    check_page,
    demographics_at,
    encounter_at,
    flag_at,
    now,
)
from medz1.db.engine import ROLE_ATTRIBUTE

#: Default list sizes of the chart's paged domains.
CHART_ENCOUNTERS = 5
CHART_LAB_PANELS = 5
CHART_ADMINISTRATIONS = 10


@dataclass(frozen=True)
class Chart:
    """Everything the patient dashboard shows."""

    demographics: Demographics
    vitals: tuple[Vital, ...]
    """Newest measurement of each vital type."""
    flags: tuple[Flag, ...]
    """Active record flags with their history."""
    allergies: tuple[Allergy, ...]
    """Active allergies, most severe first."""
    outpatient_medications: tuple[OutpatientMedication, ...]
    """Active outpatient prescriptions."""
    inpatient_medications: tuple[InpatientAdministration, ...]
    """Most recent administrations of the current admissions (none when not in hospital)."""
    encounters: tuple[Encounter, ...]
    """Most recent encounters."""
    active_admissions: tuple[Encounter, ...]
    """Admissions not yet discharged."""
    lab_panels: tuple[LabPanel, ...]
    """Most recent lab panels with their results."""


@dataclass(frozen=True)
class ChartParams:
    """The bound parameters of the chart statement: those of all its parts."""

    patient_key: str
    as_of: datetime
    encounters_limit: int
    encounters_offset: int
    panels_limit: int
    panels_offset: int
    administrations_limit: int


#: The chart's parts: a :class:`Chart` field, and the read that fills it.
PARTS: dict[str, JsonRead[Any, Any]] = {
    "demographics": patients.DEMOGRAPHICS,
    "vitals": patients.LATEST_VITALS,
    "flags": patients.ACTIVE_FLAGS,
    "allergies": patients.ALLERGIES,
    "outpatient_medications": medications.ACTIVE_OUTPATIENT,
    "inpatient_medications": medications.CURRENT_ADMINISTRATIONS,
    "encounters": patients.RECENT_ENCOUNTERS,
    "active_admissions": patients.ACTIVE_ADMISSIONS,
    "lab_panels": labs.RECENT_PANELS,
}

CHART_SQL = (
    "SELECT pg_catalog.json_build_object("
    + ", ".join(f"'{name}', {part.expression}" for name, part in PARTS.items())
    + ")::text"
)
CHART = text(CHART_SQL)
_NAMES = tuple(f.name for f in dataclasses.fields(ChartParams))


def _check_parts() -> None:
    """Every Chart field has a part, and ChartParams binds exactly the parts' parameters."""
    fields = {f.name for f in dataclasses.fields(Chart)}
    if fields != set(PARTS):
        raise TypeError(f"Chart fields {sorted(fields)} differ from parts {sorted(PARTS)}")
    for name, part in PARTS.items():
        missing = set(part.names) - set(_NAMES)
        if missing:
            raise TypeError(f"ChartParams lacks {sorted(missing)} of part {name}")
    if bind_names(CHART_SQL) != set(_NAMES):
        raise TypeError(f"ChartParams {_NAMES} differ from the chart's parameters")


_check_parts()

#: The chart statement with PostgreSQL's own ``$n`` placeholders, in ``_NAMES`` order.
CHART_NATIVE_SQL = CHART_SQL
for _number, _name in enumerate(_NAMES, start=1):
    CHART_NATIVE_SQL = re.sub(rf"(?<![:\w]):{_name}\b", f"${_number}", CHART_NATIVE_SQL)


# --- The chart document --------------------------------------------------------------------

#: Version of the document layout; a document of another version is not read. Raise it
#: whenever a record or a part of the chart changes shape.
DOCUMENT_FORMAT = 1

#: The document's parts: the chart's, except that outpatient prescriptions are kept with
#: their stored values, expired or not (the reader applies its clock).
DOCUMENT_PARTS: dict[str, JsonRead[Any, Any]] = {
    **PARTS,
    "outpatient_medications": medications.ACTIVE_OUTPATIENT_STORED,
}
_DOCUMENT_PATIENT = "chart_patient"
_DOCUMENT_VALUES = {
    "patient_key": f"{_DOCUMENT_PATIENT}.patient_key",
    "encounters_limit": str(CHART_ENCOUNTERS),
    "encounters_offset": "0",
    "panels_limit": str(CHART_LAB_PANELS),
    "panels_offset": "0",
    "administrations_limit": str(CHART_ADMINISTRATIONS),
}


def _document_expression() -> str:
    """The document of the patient row ``chart_patient``: the chart's JSON with the list
    sizes written in and ``:as_of`` left as the only parameter (time-relative values in
    it are recomputed by the reader).
    """
    expression = (
        "pg_catalog.json_build_object("
        + ", ".join(f"'{name}', {part.expression}" for name, part in DOCUMENT_PARTS.items())
        + ")"
    )
    for name, value in _DOCUMENT_VALUES.items():
        expression = re.sub(rf"(?<![:\w]):{name}\b", value, expression)
    if bind_names(expression) != {"as_of"}:
        raise TypeError(f"the chart document binds {sorted(bind_names(expression))}")
    return expression


_DOCUMENT = _document_expression()
_BUILD = (
    "INSERT INTO patient_chart_documents AS d (patient_key, format, document) "
    f"SELECT {_DOCUMENT_PATIENT}.patient_key, {DOCUMENT_FORMAT}, {_DOCUMENT} "
    f"FROM patient_demographics {_DOCUMENT_PATIENT}"
)
_UPSERT = (
    " ON CONFLICT (patient_key) DO UPDATE SET format = EXCLUDED.format, "
    "document = EXCLUDED.document, built_at = pg_catalog.now()"
)
_GONE = (
    "DELETE FROM patient_chart_documents d WHERE NOT EXISTS "
    "(SELECT 1 FROM patient_demographics p WHERE p.patient_key = d.patient_key)"
)
#: Loads rebuild documents one at a time: each rebuild then starts (READ COMMITTED: a new
#: snapshot per statement) after the previous load committed, so two loads that touch one
#: patient in different tables cannot each write a document missing the other's rows.
#: The key is an arbitrary constant of medz1's ("mz1chart" in ASCII).
_SERIALIZE = text("SELECT pg_catalog.pg_advisory_xact_lock(7888672000315585140)")
#: Rebuild every document (after a load that replaced a table).
REBUILD_ALL = (text(_GONE), text(_BUILD + _UPSERT))
#: Rebuild the documents of the patients ``:keys`` (an array of patient keys).
REBUILD_SOME = (
    text(f"{_GONE} AND d.patient_key = ANY(:keys)"),
    text(f"{_BUILD} WHERE {_DOCUMENT_PATIENT}.patient_key = ANY(:keys){_UPSERT}"),
)
READ_DOCUMENT_SQL = (
    "SELECT document::text FROM patient_chart_documents WHERE patient_key = $1 AND format = $2"
)


def refresh_documents(conn: Connection, patient_keys: list[str] | None) -> None:
    """Rebuild the chart documents of ``patient_keys`` (every patient when None) from the
    clinical tables, on ``conn`` and in its transaction: the loader calls it after its
    COPYs and before its commit, so documents and rows change together. Documents of
    patients no longer in ``patient_demographics`` are deleted; rebuilds of concurrent
    loads wait for each other (a transaction-level advisory lock).

    Raises:
        sqlalchemy.exc.DBAPIError: A driver error, untranslated (the loader translates).
    """
    if patient_keys is not None and not patient_keys:
        return
    conn.execute(_SERIALIZE)
    as_of = {"as_of": now()}
    if patient_keys is None:
        delete, build = REBUILD_ALL
        conn.execute(delete)
        conn.execute(build, as_of)
        return
    delete, build = REBUILD_SOME
    conn.execute(delete, {"keys": patient_keys})
    conn.execute(build, {**as_of, "keys": patient_keys})


def _raw_connection(session: Session) -> psycopg.Connection[Any]:
    connection = session.connection().connection.dbapi_connection
    if not isinstance(connection, psycopg.Connection):  # pragma: no cover - medz1 uses psycopg
        raise TypeError("the chart needs a psycopg connection")
    return connection


def _fetch(session: Session, statement: str, values: list[Any]) -> Any:
    """The first column of the one row of ``statement`` (None when no row), through
    psycopg's ``RawCursor`` (``$n`` placeholders: no placeholder rewriting).
    """
    connection = _raw_connection(session)
    try:
        with psycopg.RawCursor(connection) as cursor:
            cursor.execute(statement, values)
            row = cursor.fetchone()
    except psycopg.Error as exc:
        with suppress(AttributeError, TypeError):
            setattr(exc, ROLE_ATTRIBUTE, connection.info.user)
        raise
    return None if row is None else row[0]


def chart_document(session: Session, patient_key: str) -> str | None:
    """The patient's stored chart document as JSON text, or None when there is none of
    the current :data:`DOCUMENT_FORMAT`.

    Args:
        session: a session, read as the caller's role (row security applies).
        patient_key: the patient's ICN.

    Raises:
        psycopg.Error: As :func:`chart_json`.
    """
    found = _fetch(session, READ_DOCUMENT_SQL, [patient_key, DOCUMENT_FORMAT])
    return None if found is None else str(found)


def chart_at(document: dict[str, Any], as_of: datetime) -> Chart | None:
    """The :class:`Chart` of a decoded chart document, its time-relative facts computed
    for ``as_of`` (aware) by the rules of the per-domain reads; None without demographics.

    Args:
        document: the decoded JSON of :func:`chart_document`.
        as_of: the moment (aware) time-relative facts are computed for.

    Returns:
        The chart, or None when the document holds no demographics.
    """
    stored = build_chart(document)
    if stored is None:
        return None
    return dataclasses.replace(
        stored,
        demographics=demographics_at(stored.demographics, as_of),
        flags=tuple(flag_at(f, as_of) for f in stored.flags),
        outpatient_medications=tuple(medications.at_time(stored.outpatient_medications, as_of)),
        encounters=tuple(encounter_at(e, as_of) for e in stored.encounters),
        active_admissions=tuple(encounter_at(e, as_of) for e in stored.active_admissions),
    )


def chart_params(
    *,
    patient_key: str,
    encounters: int = CHART_ENCOUNTERS,
    lab_panels: int = CHART_LAB_PANELS,
    administrations: int = CHART_ADMINISTRATIONS,
    as_of: datetime | None = None,
) -> ChartParams:
    """The chart's parameters, checked.

    Args:
        patient_key: the patient's ICN.
        encounters: encounters in the chart, 1 to 1000.
        lab_panels: lab panels in the chart, 1 to 1000.
        administrations: inpatient administrations in the chart, 1 to 1000.
        as_of: the moment (aware) time-relative facts are computed for; None for now.

    Returns:
        The parameters, ready for :func:`chart_json`.

    Raises:
        UsageError: A list size is out of range (1 to 1000) or ``as_of`` is naive.
    """
    for size in (encounters, lab_panels, administrations):
        check_page(size, 0)
    return ChartParams(
        patient_key=patient_key,
        as_of=now(as_of),
        encounters_limit=encounters,
        encounters_offset=0,
        panels_limit=lab_panels,
        panels_offset=0,
        administrations_limit=administrations,
    )


def chart_json(session: Session, params: ChartParams) -> str:
    """The chart as the server's JSON text, unchanged, for callers that only forward it.

    An object of the :class:`Chart` field names; each record is a JSON array of its
    fields in declaration order (``null`` demographics for an unknown patient).

    The statement (15 kB of SQL) goes to psycopg's ``RawCursor`` with ``$n`` placeholders,
    on the session's own connection and transaction: psycopg does not cache the rewriting
    of ``%(name)s`` placeholders for statements over 4 kB, and that rewriting cost more
    than decoding the chart. It is still prepared after a few executions on a connection.

    Args:
        session: a session, read as the caller's role (row security applies).
        params: the checked parameters of :func:`chart_params`.

    Raises:
        psycopg.Error: A driver error, unchanged but for the role it connected as
            (``medz1_role``, which names the statement-timeout setting), as SQLAlchemy's
            engines tag theirs; :func:`medz1.db.errors.translated` maps it.
    """
    values = [getattr(params, name) for name in _NAMES]
    found = _fetch(session, CHART_NATIVE_SQL, values)
    assert found is not None  # SELECT json_build_object(...) always returns one row
    return str(found)


def build_chart(data: dict[str, Any]) -> Chart | None:
    """The :class:`Chart` of the decoded chart JSON; None when the patient is unknown."""
    demographics = patients.DEMOGRAPHICS.result(data["demographics"])
    if demographics is None:
        return None
    return Chart(
        demographics=demographics,
        vitals=tuple(patients.LATEST_VITALS.result(data["vitals"])),
        flags=tuple(patients.ACTIVE_FLAGS.result(data["flags"])),
        allergies=tuple(patients.ALLERGIES.result(data["allergies"])),
        outpatient_medications=tuple(
            medications.ACTIVE_OUTPATIENT.result(data["outpatient_medications"])
        ),
        inpatient_medications=tuple(
            medications.CURRENT_ADMINISTRATIONS.result(data["inpatient_medications"])
        ),
        encounters=tuple(patients.RECENT_ENCOUNTERS.result(data["encounters"])),
        active_admissions=tuple(patients.ACTIVE_ADMISSIONS.result(data["active_admissions"])),
        lab_panels=tuple(labs.RECENT_PANELS.result(data["lab_panels"])),
    )


def patient_chart(
    session: Session,
    *,
    patient_key: str,
    encounters: int = CHART_ENCOUNTERS,
    lab_panels: int = CHART_LAB_PANELS,
    administrations: int = CHART_ADMINISTRATIONS,
    as_of: datetime | None = None,
) -> Chart | None:
    """The patient's dashboard, read with a single SQL statement; None for an unknown patient.

    With the default list sizes, that statement reads the patient's chart document by
    primary key (the time-relative facts then computed here for ``as_of``); otherwise, or
    when the patient has no document, it reads the clinical tables.

    Args:
        session: An open session (ideally from :func:`medz1.dal.session.read_session`).
        patient_key: The patient's ICN.
        encounters: How many recent encounters to include.
        lab_panels: How many recent lab panels to include.
        administrations: How many administrations of current admissions to include.
        as_of: The moment ages, stay lengths, expirations and review status are computed
            for (aware; now when None).

    Raises:
        UsageError: A list size is out of range (1 to 1000) or ``as_of`` is naive.
    """
    params = chart_params(
        patient_key=patient_key,
        encounters=encounters,
        lab_panels=lab_panels,
        administrations=administrations,
        as_of=as_of,
    )
    sizes = (encounters, lab_panels, administrations)
    if sizes == (CHART_ENCOUNTERS, CHART_LAB_PANELS, CHART_ADMINISTRATIONS):
        document = chart_document(session, patient_key)
        if document is not None:
            return chart_at(decode(document), params.as_of)
    return build_chart(decode(chart_json(session, params)))
