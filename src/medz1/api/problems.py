"""Errors as answers: RFC 9457 problem details under ``/api``, an HTML page elsewhere.

One boundary for the service, like ``cli/main.run`` for the command: typed medz1 errors
and driver errors become a status and a message that names what was wrong, never a stack
trace, SQL, a bound value, a token or a patient's name (S32). Database trouble that
passes (a statement timeout, an exhausted pool, a restarting server) answers 503 with
``Retry-After`` (S26).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from medz1.db.errors import translate
from medz1.errors import (
    ConnectionFailedError,
    DatabaseMissingError,
    DatabaseServerError,
    DataError,
    Medz1Error,
    NotFoundError,
    ServerError,
    UsageError,
)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5
logger = logging.getLogger("medz1.service")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ServiceProblem(Exception):  # noqa: N818 - raised to answer a request, not a fault
    """Answer the request with ``status`` and ``detail`` (and extra headers)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class LoginRequired(Exception):  # noqa: N818 - a state of the request, not a fault
    """No usable session: a page redirects to the login page, the API answers 401."""

    def __init__(self, message: str = "please log in") -> None:
        super().__init__(message)
        self.message = message


def wants_problem(request: Request) -> bool:
    """True for the JSON API (``/api/...``); other paths get HTML."""
    return request.url.path.startswith("/api/")


def problem(
    status: int, detail: str | None = None, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An ``application/problem+json`` response (RFC 9457)."""
    body: dict[str, Any] = {"type": "about:blank", "title": _TITLES.get(status, "Error")}
    body["status"] = status
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _answer(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    if wants_problem(request):
        return problem(status, detail, headers=headers)
    from medz1.api.pages import error_page

    return error_page(request, status, _TITLES.get(status, "Error"), detail, headers=headers)


def status_of(error: Medz1Error) -> int:
    """The HTTP status of a medz1 error."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, (UsageError, DataError)):
        return 422
    if isinstance(
        error, (DatabaseServerError, ConnectionFailedError, DatabaseMissingError, ServerError)
    ):
        return 503
    return 500


def _unavailable(request: Request, detail: str) -> Response:
    return _answer(request, 503, detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceProblem)
    return _answer(request, exc.status, exc.detail, exc.headers)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _answer(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name where and why, never the value given (it may be a password or a name).
    reasons = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()[:5]
    ]
    return _answer(request, 422, "; ".join(reasons) or "the request is not valid")


async def _on_medz1(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Medz1Error)
    status = status_of(exc)
    if status == 503:
        logger.warning("database unavailable: %s", type(exc).__name__)
        return _unavailable(request, "the database is busy or unavailable; try again shortly")
    if status == 500:
        logger.error("service error: %s", type(exc).__name__)
        return _answer(request, 500, "the service failed; the error was logged")
    return _answer(request, status, exc.message)


async def _on_pool_timeout(request: Request, exc: Exception) -> Response:
    logger.warning("database pool exhausted")
    return _unavailable(request, "every database connection is busy; try again shortly")


async def _on_driver(request: Request, exc: Exception) -> Response:
    mapped = translate(exc)
    if mapped is not None:
        return await _on_medz1(request, mapped)
    if isinstance(exc, sa_exc.DataError):
        # A value the driver refused before sending it (no SQLSTATE), e.g. a NUL character.
        return _answer(request, 422, "the request holds a value the database cannot take")
    logger.error("untranslated database error: %s", type(exc).__name__)
    return _answer(request, 500, "the service failed; the error was logged")


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if wants_problem(request):
        return problem(401, exc.message, headers={"WWW-Authenticate": "Bearer"})
    from medz1.api.pages import to_login

    return to_login(request, exc.message)


def install(app: FastAPI) -> None:
    """Register the service's error handlers on ``app``."""
    app.add_exception_handler(ServiceProblem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Medz1Error, _on_medz1)
    app.add_exception_handler(sa_exc.TimeoutError, _on_pool_timeout)
    app.add_exception_handler(sa_exc.DBAPIError, _on_driver)
    app.add_exception_handler(LoginRequired, _on_login_required)
