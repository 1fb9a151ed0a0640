"""Login and logout, for the browser (forms) and for API clients (JSON).

Every bad login answers the same (``invalid e-mail or password``, 401), whatever the
reason: unknown address, wrong password, locked or disabled account (S6, S8); the reason
is in the audit row only. Logins are limited per client address (429 with
``Retry-After``). A login always opens a new session with a new token (S13) and ends the
session whose cookie the browser still sent, so a token planted before login is worth
nothing after it (session fixation).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from medz1.api.pages import render
from medz1.api.problems import LoginRequired, ServiceProblem, problem
from medz1.api.schemas import LoginIn, LoginOut, ProblemOut
from medz1.api.security import (
    FORM_TYPES,
    Principal,
    authenticate,
    check_login_csrf,
    clear_session_cookie,
    client_ip,
    csrf_token,
    new_login_csrf,
    presented_token,
    require_content_type,
    require_csrf,
    service_of,
    set_session_cookie,
    user_agent,
)
from medz1.auth import login, sessions
from medz1.auth.errors import LOGIN_FAILED_MESSAGE
from medz1.auth.login import LoginResult
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated

router = APIRouter()


def _rate_limit(request: Request) -> None:
    wait = service_of(request).login_limiter.hit(client_ip(request) or "unknown")
    if wait:
        raise ServiceProblem(
            429, "too many login attempts; wait and try again", {"Retry-After": str(wait)}
        )


def _end_presented_session(request: Request) -> None:
    """End the session of the token the client still sends, if any (fixation)."""
    token, _ = presented_token(request)
    if not token or not sessions.well_formed(token):
        return
    service = service_of(request)
    with translated(), unit_of_work(service.engine) as db:
        check = sessions.peek(db, token=token, now=service.clock())
        if check.session is not None and check.session.is_active:
            sessions.logout(db, token=token, now=service.clock(), ip=client_ip(request))


def _login(request: Request, email: object, password: object) -> LoginResult | None:
    _end_presented_session(request)
    service = service_of(request)
    with translated():
        outcome = login.attempt(
            service.engine,
            email=email,
            password=password,
            ip=client_ip(request),
            user_agent=user_agent(request),
            now=service.clock(),
            hasher=service.hasher,
            config=service.auth,
        )
    if outcome.result is None:
        return None
    set_session_cookie(request, outcome.result.token, outcome.result.expires_at, service.clock())
    return outcome.result


@router.post("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    """The login form's POST: a cookie and a redirect to the search, or the form again."""
    require_content_type(request, *FORM_TYPES)
    _rate_limit(request)
    form = await request.form()
    submitted = form.get("csrf_token")
    check_login_csrf(request, submitted if isinstance(submitted, str) else None)
    result = await run_in_threadpool(_login, request, form.get("email"), form.get("password"))
    if result is None:
        context = {
            "principal": None,
            "message": LOGIN_FAILED_MESSAGE,
            "login_csrf": new_login_csrf(request),
        }
        return render(request, "login.html", context, status=401)
    return RedirectResponse("/patients", status_code=303)


def _logout(request: Request, *, everywhere: bool) -> None:
    principal = authenticate(request)
    service = service_of(request)
    with translated(), unit_of_work(service.engine) as db:
        if everywhere:
            sessions.logout_everywhere(
                db, token=principal.token, now=service.clock(), ip=client_ip(request)
            )
        else:
            sessions.logout(db, token=principal.token, now=service.clock(), ip=client_ip(request))
    clear_session_cookie(request)


async def _checked_logout(request: Request, *, everywhere: bool) -> None:
    principal: Principal = await run_in_threadpool(authenticate, request)
    await require_csrf(request, principal)
    await run_in_threadpool(_logout, request, everywhere=everywhere)


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request) -> Response:
    """End this session; back to the login page."""
    require_content_type(request, *FORM_TYPES)
    await _checked_logout(request, everywhere=False)
    return RedirectResponse("/login?reason=logout", status_code=303)


@router.post("/logout-everywhere", include_in_schema=False)
async def logout_everywhere_form(request: Request) -> Response:
    """End every session of the user; back to the login page."""
    require_content_type(request, *FORM_TYPES)
    await _checked_logout(request, everywhere=True)
    return RedirectResponse("/login?reason=logout", status_code=303)


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemOut, "content": {"application/problem+json": {}}}
    for code in (401, 403, 413, 415, 422, 429, 503)
}


@router.post(
    "/api/auth/login",
    response_model=LoginOut,
    responses=_PROBLEMS,
    tags=["auth"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LoginIn.model_json_schema()}},
        }
    },
)
async def login_json(request: Request) -> Response:
    """Log in with e-mail and password; the token comes back and as a cookie."""
    require_content_type(request, "application/json")
    _rate_limit(request)
    try:
        body = LoginIn.model_validate_json(await request.body())
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError):
        raise ServiceProblem(422, 'send {"email": ..., "password": ...} as JSON') from None
    result = await run_in_threadpool(_login, request, body.email, body.password)
    if result is None:
        return problem(401, LOGIN_FAILED_MESSAGE)
    out = LoginOut(
        token=result.token,
        csrf_token=csrf_token(result.token),
        session_id=result.session_id,
        expires_at=result.expires_at,
    )
    return JSONResponse(out.model_dump(mode="json"))


@router.post("/api/auth/logout", status_code=204, responses=_PROBLEMS, tags=["auth"])
async def logout_json(request: Request) -> Response:
    """End this session (cookie requests need ``X-CSRF-Token``)."""
    await _checked_logout(request, everywhere=False)
    return Response(status_code=204)


@router.post("/api/auth/logout-everywhere", status_code=204, responses=_PROBLEMS, tags=["auth"])
async def logout_everywhere_json(request: Request) -> Response:
    """End every session of the user (cookie requests need ``X-CSRF-Token``)."""
    await _checked_logout(request, everywhere=True)
    return Response(status_code=204)


__all__ = ["LoginRequired", "require_content_type", "router"]
