"""Administration pages: users, sessions and the audit log, for administrators only.

An administrator is a user with ``auth.users.is_admin`` (``medz1 users set-admin``). Any
other user gets 403, and the refusal is audited (``access_denied`` with the page), in its
own transaction before the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from medz1.api.pages import render
from medz1.api.problems import ServiceProblem
from medz1.api.security import Principal, authenticate, client_ip, service_of, user_agent
from medz1.api.views import time_zone
from medz1.auth import audit, sessions, users
from medz1.auth.audit import AuditEvent, Event
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated

router = APIRouter(prefix="/admin", include_in_schema=False)


def admin_user(request: Request) -> Principal:
    """The user of the request if an administrator.

    Raises:
        LoginRequired: no usable session.
        ServiceProblem: 403 (audited) for a user who is no administrator.
    """
    principal = authenticate(request)
    service = service_of(request)
    with translated(), unit_of_work(service.engine) as db:
        if users.is_admin(db, user_id=principal.user.user_id):
            return principal
        event = Event(
            AuditEvent.ACCESS_DENIED,
            user_id=principal.user.user_id,
            email=principal.user.email,
            ip_address=client_ip(request),
            user_agent=user_agent(request),
            success=False,
            failure_reason="not_admin",
            session_id=principal.session.session_id,
            details={"page": request.url.path[:200]},
        )
        audit.record(db, [event])
    raise ServiceProblem(403, "this page is for administrators")


Admin = Annotated[Principal, Depends(admin_user)]


def _context(request: Request, principal: Principal, **more: object) -> dict[str, object]:
    tz = time_zone(service_of(request), principal)
    return {"principal": principal, "tz": tz, "csrf": principal.csrf_token, **more}


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    principal: Admin,
    page: int = Query(1, ge=1, le=10_000),
    size: int = Query(50, ge=1, le=200),
) -> Response:
    """Every user, by e-mail, paged."""
    with translated(), unit_of_work(service_of(request).engine) as db:
        found = users.list_users(db, limit=size, offset=(page - 1) * size)
    return render(request, "admin.html", _context(request, principal, view="users", rows=found))


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, principal: Admin) -> Response:
    """Sessions usable now, newest first."""
    service = service_of(request)
    with translated(), unit_of_work(service.engine) as db:
        found = sessions.list_sessions(db, now=service.clock(), limit=500)
    context = _context(request, principal, view="sessions", rows=found)
    return render(request, "admin.html", context)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, principal: Admin, limit: int = Query(100, ge=1, le=1000)
) -> Response:
    """The newest audit rows."""
    with translated(), unit_of_work(service_of(request).engine) as db:
        found = list(reversed(audit.tail(db, limit=limit)))
    return render(request, "admin.html", _context(request, principal, view="audit", rows=found))
