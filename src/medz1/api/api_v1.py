"""The JSON API, ``/api/v1``: the same patient data as the pages, for programs.

Authenticated by the session cookie or ``Authorization: Bearer <session token>``. Lists
are paged with ``page`` (1-based) and ``size`` (1 to 100); unknown query parameters are
refused (422) rather than silently ignored. An ICN that is not 1 to 32 letters and digits
answers 422 (it cannot name a patient); a well-formed ICN of no patient answers 404.
Chart responses carry a strong ETag (``If-None-Match`` answers 304; the view is still
audited, since the data was read). Errors are RFC 9457 problem details.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from medz1.api import views
from medz1.api.problems import ServiceProblem
from medz1.api.schemas import (
    AllergyOut,
    ChartOut,
    DemographicsOut,
    EncounterOut,
    FlagOut,
    InpatientAdministrationOut,
    LabPanelOut,
    OutpatientMedicationOut,
    Page,
    PatientMatchOut,
    ProblemOut,
    VitalOut,
)
from medz1.api.security import (
    Presented,
    Principal,
    authenticate,
    authenticated,
    client_ip,
    json_body,
    presented,
    require_csrf,
    service_of,
    user_agent,
)
from medz1.auth import break_glass
from medz1.errors import UsageError


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _no_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        names = ", ".join(name[:40] for name in unknown[:5])
        raise ServiceProblem(422, f"unknown query parameter(s): {names}")


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemOut, "content": {"application/problem+json": {}}}
    for code in (401, 404, 422, 503)
}
router = APIRouter(
    prefix="/api/v1",
    tags=["patients"],
    dependencies=[Depends(_no_unknown_query)],
    responses=_PROBLEMS,
)

ApiUser = Annotated[Principal, Depends(authenticate)]
ApiToken = Annotated[Presented, Depends(presented)]
"""The token of a route that checks the session in its own transaction."""
ICN = Path(pattern=views.ICN_PATTERN, description="The patient's ICN (letters and digits)")
PAGE = Query(1, ge=1, le=views.MAX_PAGE_NUMBER, description="1-based page number")
SIZE = Query(20, ge=1, le=views.MAX_PAGE_SIZE, description="items per page (at most 100)")


def _viewer(request: Request, principal: Principal) -> views.Viewer:
    return views.Viewer(principal, client_ip(request), user_agent(request))


def _page(model: Any, paged: views.Paged) -> dict[str, Any]:
    items = [model.model_validate(item) for item in paged.items]
    return {"items": items, "page": paged.page, "size": paged.size, "has_next": paged.has_next}


@router.get("/patients", response_model=Page[PatientMatchOut])
def search_patients(
    request: Request,
    principal: ApiUser,
    q: str = Query(..., min_length=1, max_length=100, description="name, ICN or SSN last 4"),
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Find patients by last-name prefix, ``LAST, FIRST``, ICN or the last four SSN digits."""
    found = views.search(service_of(request), q, page=page, size=size, principal=principal)
    return _page(PatientMatchOut, found)


class BreakGlassIn(BaseModel):
    """A break-the-glass request: why, and for how long (minutes, default 30)."""

    # Strict: "minutes": "5" is refused (422), not read as 5.
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(..., max_length=break_glass.MAX_REASON_CHARACTERS)
    minutes: int = Field(break_glass.DEFAULT_MINUTES, ge=1, le=break_glass.MAX_MINUTES)


class BreakGlassOut(BaseModel):
    """A grant: the patient is open to this session until ``expires_at``."""

    grant_id: int
    patient_key: str
    expires_at: datetime


@router.post(
    "/patients/{icn}/break-glass",
    response_model=BreakGlassOut,
    status_code=201,
    dependencies=[Depends(json_body)],
)
async def break_the_glass(
    request: Request, principal: ApiUser, body: BreakGlassIn, icn: str = ICN
) -> BreakGlassOut:
    """Open a patient of another station (or a sensitive one) to this session, with a
    reason; audited as ``break_glass``. A blank reason answers 422, a body that is not JSON
    415, an unknown patient 404 (nothing written); a cookie-authenticated call needs the
    CSRF token (403).
    """
    await require_csrf(request, principal)
    try:
        made = await run_in_threadpool(
            views.break_glass,
            service_of(request),
            _viewer(request, principal),
            icn,
            body.reason,
            minutes=body.minutes,
        )
    except UsageError as exc:
        raise ServiceProblem(422, exc.message) from exc
    return BreakGlassOut(
        grant_id=made.grant_id, patient_key=made.patient_key, expires_at=made.expires_at
    )


@router.get("/patients/{icn}/chart", response_model=ChartOut)
def chart(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
) -> Response:
    """The dashboard (seven domains, one statement); audited; ETag.

    The session check, the chart and its audit row are one transaction.
    """
    _, found = authenticated(
        request, given, lambda db, principal: views.chart_in(db, _viewer(request, principal), icn)
    )
    if found is None:
        raise views.not_found(icn)
    body = ChartOut.model_validate(found).model_dump_json().encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def _domain(
    request: Request,
    given: Presented,
    icn: str,
    name: str,
    model: Any,
    page: int,
    size: int,
    option: str | None = None,
) -> dict[str, Any]:
    _, paged = authenticated(
        request,
        given,
        lambda db, principal: views.domain_in(
            db, _viewer(request, principal), icn, name, page=page, size=size, option=option
        ),
    )
    if paged is None:
        raise views.not_found(icn)
    return _page(model, paged)


@router.get("/patients/{icn}/demographics", response_model=DemographicsOut)
def demographics(request: Request, given: ApiToken, icn: str = ICN) -> Any:
    """The patient header; audited."""
    paged = _domain(request, given, icn, "demographics", DemographicsOut, 1, 1)
    return paged["items"][0]


@router.get("/patients/{icn}/vitals", response_model=Page[VitalOut])
def vitals(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    type: str | None = Query(
        None, max_length=20, pattern=r"^[A-Za-z0-9]+$", description="history of one type (BP)"
    ),
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Newest vital of each type, or the history of ``type``; audited."""
    return _domain(request, given, icn, "vitals", VitalOut, page, size, type)


@router.get("/patients/{icn}/flags", response_model=Page[FlagOut])
def flags(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Active record flags with their history; audited."""
    return _domain(request, given, icn, "flags", FlagOut, page, size)


@router.get("/patients/{icn}/allergies", response_model=Page[AllergyOut])
def allergies(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Active allergies, most severe first; audited."""
    return _domain(request, given, icn, "allergies", AllergyOut, page, size)


@router.get("/patients/{icn}/medications", response_model=Page[OutpatientMedicationOut])
def medications(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Active outpatient prescriptions; audited."""
    return _domain(request, given, icn, "medications", OutpatientMedicationOut, page, size)


@router.get(
    "/patients/{icn}/medications/inpatient", response_model=Page[InpatientAdministrationOut]
)
def inpatient_medications(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Inpatient administrations, newest first; audited."""
    model = InpatientAdministrationOut
    return _domain(request, given, icn, "medications", model, page, size, "inpatient")


@router.get("/patients/{icn}/encounters", response_model=Page[EncounterOut])
def encounters(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Encounters (admissions), newest first; audited."""
    return _domain(request, given, icn, "encounters", EncounterOut, page, size)


@router.get("/patients/{icn}/labs", response_model=Page[LabPanelOut])
def lab_panels(
    request: Request,
    given: ApiToken,
    icn: str = ICN,
    page: int = PAGE,
    size: int = SIZE,
) -> dict[str, Any]:
    """Lab panels with their results, newest first; audited."""
    return _domain(request, given, icn, "labs", LabPanelOut, page, size)
