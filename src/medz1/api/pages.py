"""Server-rendered pages (Jinja2): login, patient search, dashboard, one page per domain.

Pages work without JavaScript: links page, forms post with a CSRF field. Times are shown
in the user's time zone preference (UTC by default); the database stores UTC.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from medz1.api import views
from medz1.api.problems import LoginRequired, ServiceProblem
from medz1.api.security import (
    FORM_TYPES,
    Presented,
    Principal,
    authenticate,
    authenticated,
    clear_session_cookie,
    client_ip,
    new_login_csrf,
    presented,
    require_content_type,
    require_csrf,
    service_of,
    user_agent,
)
from medz1.auth import break_glass
from medz1.dal.chart import Chart
from medz1.errors import UsageError

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)

#: Columns of each domain's table: (heading, attribute).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "vitals": (
        ("type", "vital_type"),
        ("value", "result_value"),
        ("unit", "unit_of_measure"),
        ("taken", "taken_datetime"),
        ("abnormal", "abnormal_flag"),
        ("location", "location_name"),
    ),
    "flags": (
        ("flag", "flag_name"),
        ("category", "flag_category"),
        ("status", "assignment_status"),
        ("assigned", "assignment_date"),
        ("next review", "next_review_date"),
        ("site", "owner_site_name"),
    ),
    "allergies": (
        ("allergen", "allergen_standardized"),
        ("type", "allergen_type"),
        ("severity", "severity"),
        ("reactions", "reactions"),
        ("originated", "origination_date"),
    ),
    "medications": (
        ("drug", "drug_name_local"),
        ("strength", "drug_strength"),
        ("status", "rx_status_computed"),
        ("issued", "issue_date"),
        ("last fill", "latest_fill_date"),
        ("provider", "provider_name"),
    ),
    "administrations": (
        ("drug", "drug_name_local"),
        ("action", "action_type"),
        ("when", "action_datetime"),
        ("dose", "dosage_given"),
        ("route", "route"),
        ("ward", "ward_name"),
    ),
    "encounters": (
        ("admitted", "admit_datetime"),
        ("location", "admit_location_name"),
        ("discharged", "discharge_datetime"),
        ("diagnosis", "discharge_diagnosis_text"),
        ("status", "encounter_status"),
        ("facility", "facility_name"),
    ),
    "labs": (
        ("panel", "panel_name"),
        ("accession", "accession_number"),
        ("collected", "collection_datetime"),
        ("specimen", "specimen_type"),
        ("results", "results"),
    ),
    "search": (
        ("ICN", "icn"),
        ("name", "name_display"),
        ("DOB", "dob"),
        ("sex", "sex"),
        ("SSN last 4", "ssn_last4"),
        ("station", "primary_station_name"),
    ),
}


def cell(value: Any, tz: ZoneInfo) -> str:
    """A value as table text; aware datetimes in ``tz``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (tuple, list)):
        if value and not isinstance(value[0], str):
            return "; ".join(
                f"{getattr(v, 'lab_test_name', '')} {cell(getattr(v, 'result_value', ''), tz)}"
                f" {getattr(v, 'result_unit', '') or ''}".strip()
                for v in value
            )
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


templates.env.filters["cell"] = cell
templates.env.globals["COLUMNS"] = COLUMNS
templates.env.globals["DOMAINS"] = views.DOMAINS


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a template with the request in its context."""
    return templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


def error_page(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """An HTML error page (no stack trace)."""
    context = {"title": title, "status": status, "detail": detail, "principal": None}
    return render(request, "error.html", context, status=status, headers=headers)


def to_login(request: Request, message: str) -> Response:
    """Send the browser to the login page with a message (303)."""
    clear_session_cookie(request)
    reason = "expired" if "expired" in message else "login"
    return RedirectResponse(f"/login?reason={reason}", status_code=303)


def page_user(request: Request) -> Principal:
    """The logged-in user of a page (else a redirect to the login page)."""
    return authenticate(request)


PageUser = Annotated[Principal, Depends(page_user)]
PageToken = Annotated[Presented, Depends(presented)]
"""The token of a page that checks the session in its own transaction."""


def _viewer(request: Request, principal: Principal) -> views.Viewer:
    return views.Viewer(principal, client_ip(request), user_agent(request))


def _context(
    request: Request, principal: Principal, tz: ZoneInfo | None = None, **more: Any
) -> dict[str, Any]:
    """The template context; the user's time zone is read unless the caller read it."""
    service = service_of(request)
    zone = tz if tz is not None else views.time_zone(service, principal)
    banner = service.notice.get(service.engine).banner
    return {
        "principal": principal,
        "tz": zone,
        "csrf": principal.csrf_token,
        "banner": banner,
        **more,
    }


_REASONS = {
    "expired": "Your session has expired; please log in again.",
    "logout": "You are logged out.",
    "login": "Please log in.",
}


@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    """The start page is the patient search."""
    return RedirectResponse("/patients", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, reason: str | None = Query(None, max_length=20)) -> Response:
    """The login form (with a fresh double-submit CSRF value)."""
    message = _REASONS.get(reason or "", "")
    context = {"principal": None, "message": message, "login_csrf": new_login_csrf(request)}
    return render(request, "login.html", context)


@router.get("/patients", response_class=HTMLResponse)
def search_page(
    request: Request,
    principal: PageUser,
    q: str = Query("", max_length=100),
    page: int = Query(1, ge=1, le=views.MAX_PAGE_NUMBER),
    size: int = Query(20, ge=1, le=views.MAX_PAGE_SIZE),
) -> Response:
    """Search by name, ICN or the last four SSN digits, paged."""
    found = (
        views.search(service_of(request), q, page=page, size=size, principal=principal)
        if q.strip()
        else None
    )
    return render(request, "search.html", _context(request, principal, q=q, found=found))


def _icn(icn: str) -> str:
    if not views.valid_icn(icn):
        raise ServiceProblem(404, "no patient has that ICN (an ICN is letters and digits)")
    return icn


@router.get("/patients/{icn}", response_class=HTMLResponse)
def chart_page(request: Request, icn: str, given: PageToken) -> Response:
    """The dashboard: the seven domains from one statement; audited.

    The session check, the time zone, the chart and its audit row are one transaction.
    """

    def work(db: Session, principal: Principal) -> tuple[Chart | None, ZoneInfo]:
        zone = views.zone_in(db, principal)  # before the audit row: it locks the chain head
        return views.chart_in(db, _viewer(request, principal), _icn(icn)), zone

    principal, (chart, tz) = authenticated(request, given, work)
    if chart is None:
        raise views.not_found(icn)
    return render(request, "chart.html", _context(request, principal, tz, chart=chart, icn=icn))


@router.get("/patients/{icn}/break-glass", response_class=HTMLResponse)
def break_glass_page(request: Request, icn: str, principal: PageUser) -> Response:
    """The reason form for opening a patient outside the user's station."""
    context = _context(
        request,
        principal,
        icn=_icn(icn),
        max_reason=break_glass.MAX_REASON_CHARACTERS,
        max_minutes=break_glass.MAX_MINUTES,
        default_minutes=break_glass.DEFAULT_MINUTES,
    )
    return render(request, "break_glass.html", context)


@router.post("/patients/{icn}/break-glass")
async def break_the_glass(request: Request, icn: str) -> Response:
    """Grant the patient to this session with the reason given (audited), then show it.

    A missing or blank reason or a duration out of range answers 422; nothing is written.
    """
    require_content_type(request, *FORM_TYPES)
    principal = await run_in_threadpool(authenticate, request)
    await require_csrf(request, principal)
    form = await request.form()
    minutes_text = form.get("minutes") or str(break_glass.DEFAULT_MINUTES)
    if not isinstance(minutes_text, str) or not minutes_text.strip().isdigit():
        raise ServiceProblem(422, "the minutes must be a whole number")
    try:
        await run_in_threadpool(
            views.break_glass,
            service_of(request),
            _viewer(request, principal),
            _icn(icn),
            form.get("reason"),
            minutes=int(minutes_text.strip()[:6]),
        )
    except UsageError as exc:
        raise ServiceProblem(422, exc.message) from exc
    return RedirectResponse(f"/patients/{icn}", status_code=303)


@router.get("/patients/{icn}/{domain}", response_class=HTMLResponse)
def domain_page(
    request: Request,
    icn: str,
    domain: str,
    given: PageToken,
    page: int = Query(1, ge=1, le=views.MAX_PAGE_NUMBER),
    size: int = Query(20, ge=1, le=views.MAX_PAGE_SIZE),
    type: str | None = Query(None, max_length=20, pattern=r"^[A-Za-z0-9]+$"),
    kind: str | None = Query(None, pattern=r"^(outpatient|inpatient)$"),
) -> Response:
    """One domain of a patient, paged; audited (one transaction, as the dashboard)."""
    if domain not in views.DOMAINS:
        raise ServiceProblem(404, f"no such page: {domain[:40]}")
    option = type if domain == "vitals" else kind if domain == "medications" else None

    def work(db: Session, principal: Principal) -> tuple[views.Paged | None, ZoneInfo]:
        zone = views.zone_in(db, principal)  # before the audit row: it locks the chain head
        viewer = _viewer(request, principal)
        found = views.domain_in(db, viewer, _icn(icn), domain, page=page, size=size, option=option)
        return found, zone

    principal, (paged, tz) = authenticated(request, given, work)
    if paged is None:
        raise views.not_found(icn)
    table = "administrations" if domain == "medications" and kind == "inpatient" else domain
    # The drug-interaction panel, behind the feature flag ai.drug_interactions_panel
    # (imported here: the AI modules load pyarrow, which the other pages never need).
    from medz1.ai.panel import interaction_panel

    panel = (
        interaction_panel(
            service_of(request).engine,
            email=principal.user.email,
            home_station=principal.user.home_site_sta3n,
            session_id=principal.session.session_id,
            patient_key=icn,
        )
        if domain == "medications" and kind != "inpatient"
        else None
    )
    context = _context(
        request,
        principal,
        tz,
        icn=icn,
        domain=domain,
        paged=paged,
        table=table,
        option=option,
        panel=panel,
    )
    return render(request, "domain.html", context)


@router.get("/preferences", response_class=HTMLResponse)
def preferences_page(request: Request, principal: PageUser) -> Response:
    """The user's time zone."""
    context = _context(request, principal, zones=views.zone_names())
    return render(request, "preferences.html", context)


@router.post("/preferences")
async def save_preferences(request: Request) -> Response:
    """Store the time zone chosen in the form."""
    require_content_type(request, *FORM_TYPES)
    principal = await run_in_threadpool(authenticate, request)
    await require_csrf(request, principal)
    form = await request.form()
    zone = form.get("time_zone")
    if not isinstance(zone, str):
        raise ServiceProblem(422, "choose a time zone")
    await run_in_threadpool(views.set_time_zone, service_of(request), principal, zone)
    return RedirectResponse("/preferences", status_code=303)


__all__ = ["LoginRequired", "error_page", "router", "to_login"]
