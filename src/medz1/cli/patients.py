"""``medz1 patients search | show``: find a patient and show the chart, as the application role.

Both commands connect as ``med_z1_user``, the role the med-z1 viewer uses, so they see
exactly what the viewer may see. ``show`` reads the whole chart with one statement
(:func:`medz1.dal.chart.patient_chart`) and renders it with rich; ``--json`` prints the
same records for scripts.

With station scoping on (``MEDZ1_STATION_SCOPING``, row-level security), the role sees
only the patients of ``--station``; ``show --break-glass REASON`` opens one patient of
another station (or a sensitive one) for this command only, audited as ``break_glass``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from medz1.cli.common import (
    JSON_OPTION,
    CliContext,
    Col,
    actor,
    cli_context,
    now,
    station_option,
)
from medz1.errors import NotFoundError, PrivilegeError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from medz1.dal.chart import Chart
    from medz1.dal.labs import LabPanel, PanelResult
    from medz1.dal.patients import Demographics, Encounter

app = typer.Typer(
    help="Find patients and show their chart (read as the application role, med_z1_user).",
    no_args_is_help=True,
)

_JSON = JSON_OPTION

#: Columns of ``patients search``: the ICN is never cut.
SEARCH_COLUMNS = (
    Col("ICN", key=True),
    Col("name", key=True),
    Col("DOB", drop=2),
    Col("age", drop=3),
    Col("sex", drop=4),
    Col("SSN", drop=1),
    Col("station", drop=5),
)

#: The order a clinician reads vital signs in; other types follow alphabetically.
VITAL_ORDER = ("BP", "P", "R", "T", "POX", "PN", "HT", "WT", "BMI")
_FLAG_STYLES = {"CRITICAL": "bold red", "HIGH": "red", "LOW": "yellow", "NORMAL": "green"}
_LAB_STYLES = {"HH": "bold red", "LL": "bold red", "H": "red", "L": "yellow"}
_SEVERITY_STYLES = {"SEVERE": "bold red", "MODERATE": "yellow", "MILD": "green"}


#: The largest --offset (PostgreSQL's OFFSET is a bigint; no listing is that long).
MAX_OFFSET = 1_000_000_000

_STATION = station_option(
    "Read as this station (sta3n, e.g. 508): with station scoping on, only its patients are found."
)


@dataclass(frozen=True)
class _Reader:
    """Who reads a chart from the command line, for its audit rows."""

    user_id: uuid.UUID | None
    email: str | None
    user_agent: str


@contextmanager
def _session(c: CliContext, station: str | None = None) -> Iterator[Session]:
    """A read-only session as the application role, scoped to ``station``; the engine is
    disposed afterwards."""
    from medz1.dal.session import Scope, read_session
    from medz1.db.errors import translated
    from medz1.provision.connect import application_engine_at

    settings = c.settings()
    engine = application_engine_at(c.target(), c.role_plan().passwords, settings.pooler_url)
    try:
        with translated(), read_session(engine, Scope(station, uuid.uuid4())) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def _chart_session(
    c: CliContext, station: str | None, reason: str | None, icn: str, as_user: str | None
) -> Iterator[tuple[Session, _Reader, uuid.UUID]]:
    """One transaction that reads a chart and audits it: scoped to ``station`` (or the
    ``--as`` user's home station), with a break-the-glass ``reason`` also a one-command
    grant of ``icn``. Anything raised inside rolls back the grant and the audit rows."""
    import getpass

    from medz1.auth import break_glass, users
    from medz1.dal.session import Scope, set_scope
    from medz1.db.engine import unit_of_work
    from medz1.db.errors import translated
    from medz1.provision.connect import application_engine_at

    if reason is not None:
        break_glass.check_reason(reason)
    settings = c.settings()
    engine = application_engine_at(c.target(), c.role_plan().passwords, settings.pooler_url)
    session_id = uuid.uuid4()
    agent = f"medz1 patients show (OS user {getpass.getuser()})"
    try:
        with translated(), unit_of_work(engine) as db:
            reader = _Reader(None, None, agent)
            if as_user is not None:
                user = users.resolve_user(db, ident=as_user)
                if not user.is_active:
                    raise PrivilegeError(
                        f"{user.email} is disabled", hint="enable the user, or read as another"
                    )
                home = None if user.home_site_sta3n is None else str(user.home_site_sta3n)
                if station is not None and station != home:
                    raise UsageError(
                        f"--as {user.email} reads as their home station {home or '(none)'}, "
                        f"not {station}",
                        hint="leave out --station with --as",
                    )
                station, reader = home, _Reader(user.user_id, user.email, agent)
            set_scope(db, Scope(station, session_id, icn or None))
            if reason is not None:
                break_glass.grant(
                    db,
                    session_id=session_id,
                    patient_key=icn,
                    reason=reason,
                    user_id=reader.user_id,
                    email=reader.email,
                    user_agent=reader.user_agent,
                    minutes=1,
                )
            yield db, reader, session_id
    finally:
        engine.dispose()


def _record_view(db: Session, reader: _Reader, session_id: uuid.UUID, icn: str) -> None:
    """Audit one view of ``icn``'s chart (``patient_view``), as the service does (S-row:
    every patient view is audited)."""
    from medz1.auth import audit

    event = audit.Event(
        audit.AuditEvent.PATIENT_VIEW,
        user_id=reader.user_id,
        email=reader.email,
        user_agent=reader.user_agent,
        session_id=session_id,
        details={"patient_key": icn, "page": "cli", "actor": actor()},
    )
    audit.record(db, [event], now=now())


@app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(
        ..., help="A name or part of it, 'LAST, FIRST', an ICN, or the SSN's last four digits."
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Patients per page."),
    offset: int = typer.Option(
        0, "--offset", min=0, max=MAX_OFFSET, help="Patients to skip (at most 1,000,000,000)."
    ),
    station: str | None = _STATION,
    as_json: bool = _JSON,
) -> None:
    """Find patients by name (prefix or part, any case, accents ignored), exact ICN or SSN
    last four; best matches first.

    Examples: medz1 patients search smi ; medz1 patients search "smith, jo" ;
    medz1 patients search ICN100001 ; medz1 patients search 1234
    """
    from medz1.dal.patients import search_patients

    c = cli_context(ctx)
    with _session(c, station) as session:
        result = search_patients(session, query=query, limit=limit, offset=offset)
    found = result.matches
    if as_json:
        c.print_json([dataclasses.asdict(p) for p in found])
    else:
        c.table(
            SEARCH_COLUMNS,
            [
                [
                    p.icn,
                    p.name_display or "",
                    _day(p.dob),
                    _text(p.age),
                    p.sex or "",
                    f"***-**-{p.ssn_last4}" if p.ssn_last4 else "",
                    " ".join(filter(None, (p.primary_station, p.primary_station_name))),
                ]
                for p in found
            ],
        )

    # How many matched, always (on stderr when stdout is data for a script).
    def note(text: str) -> None:
        if as_json:
            c.err.print(text, markup=False)
        else:
            c.note(text)

    if not found:
        if result.total:
            note(f"{result.total} patient(s) match; none past offset {offset}")
        else:
            note(f"no patient matches {query!r}")
        return
    shown = f"{offset + 1}-{offset + len(found)} of " if len(found) < result.total else ""
    note(f"{shown}{result.total} matching patient(s); show one with `medz1 patients show ICN`")


@app.command()
def show(
    ctx: typer.Context,
    icn: str = typer.Argument(..., help="The patient's ICN, e.g. ICN100001."),
    station: str | None = _STATION,
    reason: str | None = typer.Option(
        None,
        "--break-glass",
        metavar="REASON",
        help="Open a patient of another station, or a sensitive one, for this command "
        "only; the reason is audited (break_glass).",
    ),
    as_user: str | None = typer.Option(
        None,
        "--as",
        metavar="EMAIL",
        help="Read as this medz1 user: their home station is the scope, and the audit rows "
        "name them (default: the OS user, named in the rows' user agent).",
    ),
    as_json: bool = _JSON,
) -> None:
    """Show a patient's chart: demographics, vitals, flags, allergies, medications,
    encounters and labs, read in one round trip. Every view is audited (patient_view).

    Example: medz1 patients show ICN100001 --station 508
    """
    from medz1.dal.chart import patient_chart

    c = cli_context(ctx)
    key = icn.strip().upper()
    with _chart_session(c, station, reason, key, as_user) as (session, reader, session_id):
        chart = patient_chart(session, patient_key=key)
        if chart is None:  # raised inside: a break-the-glass grant is rolled back with it
            raise NotFoundError(
                f"no patient with ICN {icn.strip()} that this station may open",
                hint="find the ICN with `medz1 patients search LASTNAME`; a patient of another "
                "station (or a sensitive one) opens with --break-glass REASON",
            )
        _record_view(session, reader, session_id, key)
    if as_json:
        c.print_json(dataclasses.asdict(chart))
        return
    for section in render(chart):
        c.out.print(section)


def render(chart: Chart) -> list[RenderableType]:
    """The chart as rich renderables, one per section, in dashboard order."""
    return [
        _demographics(chart.demographics),
        _vitals(chart),
        _flags(chart),
        _allergies(chart),
        _medications(chart),
        _encounters(chart),
        _labs(chart.lab_panels),
    ]


def _demographics(d: Demographics) -> Panel:
    lines = [
        f"DOB {_day(d.dob)} (age {_text(d.age)}"
        + (" at death" if d.deceased_flag == "Y" and d.age is not None else "")
        + f")   {d.gender or d.sex or ''}   "
        + (f"SSN ***-**-{d.ssn_last4}" if d.ssn_last4 else ""),
        f"Station {d.primary_station or '-'} {d.primary_station_name or ''}",
        ", ".join(
            filter(
                None,
                (
                    d.address_street1,
                    d.address_street2,
                    d.address_city,
                    " ".join(filter(None, (d.address_state, d.address_zip))),
                ),
            )
        ),
        f"Phone {d.phone_primary or '-'}   Insurance {d.insurance_company_name or '-'}",
        f"{d.veteran_status or 'Veteran status unknown'}, service connected "
        f"{_number(d.service_connected_percent)}%   Marital status {d.marital_status or '-'}",
    ]
    body = Text("\n".join(lines))
    if d.deceased_flag == "Y":
        body.append(f"\nDECEASED {_day(d.death_date)}", style="bold red")
    title = f"[bold]{d.name_display or d.patient_key}[/bold]  {d.icn}"
    return Panel(body, title=title, title_align="left", subtitle="Demographics")


def _section(title: str, *columns: str) -> Table:
    return Table(*columns, title=title, title_justify="left", title_style="bold")


def _empty(title: str, message: str) -> Text:
    return Text.assemble((title, "bold"), f"\n  {message}")


def _vitals(chart: Chart) -> RenderableType:
    if not chart.vitals:
        return _empty("Vitals (latest)", "none recorded")
    table = _section("Vitals (latest)", "vital", "value", "unit", "taken (UTC)", "flag")

    def rank(abbr: str) -> tuple[int, str]:
        return (VITAL_ORDER.index(abbr) if abbr in VITAL_ORDER else len(VITAL_ORDER), abbr)

    for v in sorted(chart.vitals, key=lambda v: rank(v.vital_abbr)):
        style = _FLAG_STYLES.get(v.abnormal_flag or "", "")
        abnormal = v.abnormal_flag in ("HIGH", "LOW", "CRITICAL")
        table.add_row(
            v.vital_type,
            Text(v.result_value or "", style=style if abnormal else ""),
            v.unit_of_measure or "",
            _moment(v.taken_datetime),
            Text(v.abnormal_flag or "", style=style),
        )
    return table


def _flags(chart: Chart) -> RenderableType:
    if not chart.flags:
        return _empty("Patient record flags (active)", "no active flags")
    table = _section(
        "Patient record flags (active)", "flag", "category", "assigned", "review", "last action"
    )
    for f in chart.flags:
        category = "I (national)" if f.flag_category == "I" else f"{f.flag_category} (local)"
        review = f"{f.review_status or '-'}, next {_day(f.next_review_date)}"
        last = f"{f.last_action or '-'} {_day(f.last_action_date)} ({len(f.history)} action(s))"
        table.add_row(
            Text(f.flag_name, style="bold red"), category, _day(f.assignment_date), review, last
        )
    return table


def _allergies(chart: Chart) -> RenderableType:
    if not chart.allergies:
        return _empty("Allergies", "no known allergies")
    table = _section("Allergies", "allergen", "type", "severity", "reactions", "since", "status")
    for a in chart.allergies:
        table.add_row(
            a.allergen_local,
            a.allergen_type,
            Text(a.severity or "unknown", style=_SEVERITY_STYLES.get(a.severity or "", "")),
            ", ".join(a.reactions) or "-",
            _day(a.origination_date),
            a.verification_status or "",
        )
    return table


def _medications(chart: Chart) -> RenderableType:
    parts: list[RenderableType] = []
    if chart.outpatient_medications:
        table = _section(
            "Medications (active outpatient)",
            "drug",
            "sig",
            "status",
            "issued",
            "refills",
            "expires",
        )
        for m in chart.outpatient_medications:
            sig = f"{m.unit_dose or ''} qty {_number(m.quantity_ordered)}, {_text(m.days_supply)} days"
            table.add_row(
                m.drug_name_local or m.drug_name_national or "",
                sig.strip(),
                m.rx_status_computed or m.rx_status or "",
                _day(m.issue_date),
                _text(m.refills_remaining),
                _day(m.expiration_date),
            )
        parts.append(table)
    else:
        parts.append(_empty("Medications (active outpatient)", "no active prescriptions"))
    if chart.inpatient_medications:
        table = _section(
            "Medications (current admission)", "drug", "action", "when (UTC)", "dose", "route"
        )
        for g in chart.inpatient_medications:
            table.add_row(
                g.drug_name_local or "",
                g.action_type or "",
                _moment(g.action_datetime),
                g.dosage_given or g.dosage_ordered or "",
                g.route or "",
            )
        parts.append(table)
    return Group(*parts)


def _encounter_rows(table: Table, encounters: tuple[Encounter, ...], *, active: bool) -> None:
    for e in encounters:
        table.add_row(
            _moment(e.admit_datetime),
            _moment(e.discharge_datetime) if e.discharge_datetime else "-",
            e.admit_location_name or "",
            e.discharge_diagnosis_text or e.admit_diagnosis_code or "",
            Text(e.encounter_status or "", style="bold cyan" if active else ""),
            _text(e.length_of_stay),
        )


def _encounters(chart: Chart) -> RenderableType:
    if not chart.encounters and not chart.active_admissions:
        return _empty("Encounters", "no inpatient encounters")
    table = _section(
        "Encounters (active admissions, then recent)",
        "admitted (UTC)",
        "discharged",
        "location",
        "diagnosis",
        "status",
        "days",
    )
    active = {e.inpatient_id for e in chart.active_admissions}
    _encounter_rows(table, chart.active_admissions, active=True)
    recent = tuple(e for e in chart.encounters if e.inpatient_id not in active)
    _encounter_rows(table, recent, active=False)
    return table


def _lab_row(r: PanelResult) -> tuple[Text, Text, str, str, Text]:
    style = "bold red" if r.is_critical else _LAB_STYLES.get(r.abnormal_flag or "", "")
    mark = "*" if r.is_abnormal or r.is_critical else " "
    return (
        Text(f"{mark} {r.lab_test_name}", style=style),
        Text(r.result_value or "", style=style),
        r.result_unit or "",
        r.ref_range_text or "",
        Text(r.abnormal_flag or "", style=style),
    )


def _labs(panels: tuple[LabPanel, ...]) -> RenderableType:
    if not panels:
        return _empty("Labs", "no results")
    tables: list[RenderableType] = [Text("Labs (recent panels; * abnormal)", style="bold")]
    for p in panels:
        title = (
            f"{p.panel_name or p.results[0].lab_test_name}  {_moment(p.collection_datetime)} UTC  "
            f"{p.accession_number}  ({p.abnormal} abnormal)"
        )
        table = Table(
            "test", "result", "unit", "reference", "flag", title=title, title_justify="left"
        )
        for r in p.results:
            table.add_row(*_lab_row(r))
        tables.append(table)
    return Group(*tables)


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _number(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _day(value: date | datetime | None) -> str:
    if value is None:
        return "-"
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _moment(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")
