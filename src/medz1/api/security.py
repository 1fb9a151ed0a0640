"""Sessions at the service's edge: the cookie, bearer tokens, CSRF and the current user.

- The session token is the auth store's token (S11-S13). Browsers hold it in a cookie that
  is HttpOnly and SameSite=Lax, and, when the service is reached over HTTPS
  (``MEDZ1_SERVICE_SECURE``), Secure with the ``__Host-`` prefix (no Domain, Path=/).
  The cookie is re-issued whenever the store slides the session's idle expiry, so it ends
  when the session does. API clients may send the same token as ``Authorization: Bearer``.
- CSRF (OWASP cheat sheet, synchronizer token): a state-changing request authenticated by
  the cookie must carry ``csrf_token`` (form field) or ``X-CSRF-Token`` (header) equal to
  HMAC-SHA256 keyed by the session token; it changes with every login and cannot be
  computed without the token. The login form itself uses a double-submit cookie. Bearer
  requests carry no ambient authority and need no CSRF token.
- Idle and absolute timeouts are the store's (S14); a page sends the user back to the
  login page with a message, the API answers 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Final, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from medz1.api.middleware import COOKIES, USER_ID
from medz1.api.problems import LoginRequired, ServiceProblem
from medz1.api.service import Service
from medz1.auth import sessions, users
from medz1.auth.records import SessionRecord, UserRecord
from medz1.auth.sessions import SessionCheck, SessionState
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
"""The media types of an HTML form's body."""
JSON_TYPE: Final = "application/json"
T = TypeVar("T")
_EXPIRED_MESSAGE = "your session has expired; please log in again"
_MESSAGES = {
    SessionState.IDLE_TIMEOUT: _EXPIRED_MESSAGE,
    SessionState.ABSOLUTE_TIMEOUT: _EXPIRED_MESSAGE,
    SessionState.ENDED: "you were logged out; please log in again",
}


@dataclass(frozen=True)
class Principal:
    """The user of a request and how they authenticated."""

    user: UserRecord
    session: SessionRecord
    token: str = field(repr=False)
    via_cookie: bool

    @property
    def csrf_token(self) -> str:
        """The CSRF token of this session."""
        return csrf_token(self.token)


def service_of(request: Request) -> Service:
    """The process's :class:`Service`."""
    service: Service = request.app.state.medz1
    return service


def session_cookie_name(*, secure: bool) -> str:
    """``__Host-medz1_session`` over HTTPS, ``medz1_session`` otherwise."""
    return "__Host-medz1_session" if secure else "medz1_session"


def login_csrf_cookie_name(*, secure: bool) -> str:
    """The double-submit cookie of the login form."""
    return "__Host-medz1_login_csrf" if secure else "medz1_login_csrf"


def csrf_token(session_token: str) -> str:
    """HMAC-SHA256 of a fixed label keyed by the session token, URL-safe base64."""
    digest = hmac.new(session_token.encode("ascii"), b"medz1-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def cookie_header(
    name: str, value: str, *, secure: bool, max_age: int, http_only: bool = True
) -> str:
    """A Set-Cookie value: Path=/, SameSite=Lax, HttpOnly unless asked, Secure over HTTPS."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["samesite"] = "Lax"
    morsel["max-age"] = str(max(0, max_age))
    if http_only:
        morsel["httponly"] = True
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def queue_cookie(request: Request, header: str) -> None:
    """Add a Set-Cookie value to this request's response (see the edge middleware)."""
    request.scope.setdefault("state", {}).setdefault(COOKIES, []).append(header)


def set_session_cookie(request: Request, token: str, ends_at: datetime, now: datetime) -> None:
    """Give the browser the session token until the session ends."""
    secure = service_of(request).secure
    max_age = int((ends_at - now).total_seconds())
    queue_cookie(
        request,
        cookie_header(session_cookie_name(secure=secure), token, secure=secure, max_age=max_age),
    )


def clear_session_cookie(request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    secure = service_of(request).secure
    queue_cookie(
        request, cookie_header(session_cookie_name(secure=secure), "", secure=secure, max_age=0)
    )


def new_login_csrf(request: Request) -> str:
    """A fresh double-submit value for the login form, also set as a cookie."""
    secure = service_of(request).secure
    value = secrets.token_urlsafe(32)
    queue_cookie(
        request,
        cookie_header(login_csrf_cookie_name(secure=secure), value, secure=secure, max_age=3600),
    )
    return value


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a login form whose CSRF field does not match its cookie.

    Raises:
        ServiceProblem: 403.
    """
    cookie = request.cookies.get(login_csrf_cookie_name(secure=service_of(request).secure))
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise ServiceProblem(403, "the form has expired or was not sent by medz1; try again")


def presented_token(request: Request) -> tuple[str | None, bool]:
    """The token of the request and whether it came from the cookie (bearer wins)."""
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    return request.cookies.get(session_cookie_name(secure=service_of(request).secure)), True


@dataclass(frozen=True)
class Presented:
    """The session token a request carries (not yet checked) and where it came from."""

    token: str = field(repr=False)
    via_cookie: bool


def presented(request: Request) -> Presented:
    """The request's token, without asking the database (a dependency of routes that
    check the session in their own transaction, :func:`authenticated`).

    Raises:
        LoginRequired: the request carries no token.
    """
    token, via_cookie = presented_token(request)
    if not token:
        raise LoginRequired
    return Presented(token, via_cookie)


def _refused(request: Request, check: SessionCheck, given: Presented) -> LoginRequired:
    """The answer to a token that opens no usable session (a cookie is cleared)."""
    if given.via_cookie:
        clear_session_cookie(request)
    return LoginRequired(_MESSAGES.get(check.state, "please log in"))


def _accept(request: Request, check: SessionCheck, given: Presented, now: datetime) -> Principal:
    """The principal of a session check (re-issuing a slid cookie), or LoginRequired."""
    if not check.valid or check.user is None or check.session is None:
        raise _refused(request, check, given)
    principal = Principal(check.user, check.session, given.token, given.via_cookie)
    request.scope["state"][USER_ID] = str(check.user.user_id)
    if given.via_cookie and check.session.last_activity_at == now:
        set_session_cookie(request, given.token, check.session.ends_at(), now)  # slid: re-issue
    return principal


MAINTENANCE_RETRY_SECONDS: Final = 300
"""``Retry-After`` of the 503 answered while the viewer is in maintenance."""


def _require_open(db: Session, service: Service, principal: Principal) -> None:
    """Refuse everyone but administrators while ``viewer.maintenance_mode`` is on.

    Raises:
        ServiceProblem: 503 with ``Retry-After``, in maintenance, for a non-administrator.
    """
    if not service.notice.get(service.engine).maintenance:
        return
    if users.is_admin(db, user_id=principal.user.user_id):
        return
    raise ServiceProblem(
        503,
        "the viewer is closed for maintenance; try again later",
        {"Retry-After": str(MAINTENANCE_RETRY_SECONDS)},
    )


def authenticate(request: Request) -> Principal:
    """The user of the request, from a valid session (the store ends timed-out ones).

    Raises:
        LoginRequired: no token, or one that opens no usable session.
        ServiceProblem: 503 while the viewer is in maintenance, for a non-administrator.
    """
    principal, _ = authenticated(request, presented(request), lambda db, principal: None)
    return principal


def authenticated(
    request: Request, given: Presented, work: Callable[[Session, Principal], T]
) -> tuple[Principal, T]:
    """Check the session and run ``work(db, principal)`` in the same transaction.

    One checkout, one transaction and one commit for a request that reads (a patient
    view: the session check, the read and its audit row commit together). A session found
    invalid commits what the check wrote (a timed-out session ended and audited) and
    raises; an exception of ``work`` rolls everything back.

    Raises:
        LoginRequired: the token opens no usable session (``work`` is not run).
        ServiceProblem: 503 while the viewer is in maintenance, for a non-administrator
            (``work`` is not run).
    """
    service = service_of(request)
    now = service.clock()
    with translated(), unit_of_work(service.engine) as db:
        check = sessions.validate(db, token=given.token, now=now, config=service.auth)
        if check.valid:
            principal = _accept(request, check, given, now)
            _require_open(db, service, principal)
            return principal, work(db, principal)
    raise _refused(request, check, given)


async def require_csrf(request: Request, principal: Principal) -> None:
    """Refuse a cookie-authenticated state change without the session's CSRF token.

    Raises:
        ServiceProblem: 403.
    """
    if not principal.via_cookie:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not submitted or not hmac.compare_digest(submitted, principal.csrf_token):
        raise ServiceProblem(403, "missing or wrong CSRF token; reload the page and try again")


def client_ip(request: Request) -> str | None:
    """The client's IP address as the server saw it; None when it is no IP address."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def user_agent(request: Request) -> str | None:
    """The User-Agent header, cut to what the audit row keeps."""
    value = request.headers.get("user-agent")
    return value[:1024] if value else None


def require_content_type(request: Request, *types: str) -> None:
    """Refuse a body of another media type (415), before the body is read or validated.

    Args:
        request: the request whose ``Content-Type`` header (parameters ignored) is checked.
        *types: the media types accepted, lower case.

    Raises:
        ServiceProblem: 415, naming the accepted types.
    """
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given not in types:
        raise ServiceProblem(415, "send the body as " + " or ".join(types))


def json_body(request: Request) -> None:
    """A route dependency: the body must be JSON (415 otherwise, before validation: 422).

    Raises:
        ServiceProblem: 415.
    """
    require_content_type(request, JSON_TYPE)
