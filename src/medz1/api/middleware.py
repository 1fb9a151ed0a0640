"""The outermost layer of every request: body size, security headers, cookies, access log.

A pure ASGI middleware (no buffering of responses):

- a body larger than ``MEDZ1_SERVICE_MAX_BODY_BYTES`` answers 413, whether announced by
  ``Content-Length`` or streamed;
- every response carries the security headers (CSP without inline script, nosniff,
  ``Referrer-Policy``, frame denial, ``Cache-Control: no-store`` since pages hold PHI, and
  HSTS when the service is reached over HTTPS);
- a session cookie queued by a request (login, an extended session) is added here;
- one JSON access-log line per request on the ``medz1.access`` logger: method, path
  without the query string (a search text can be a patient's name), status, duration,
  client address and user id; never headers, cookies, tokens or bodies;
- an exception that escaped every handler answers 500 with problem details, and only its
  type is logged (its text could quote data).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS = logging.getLogger("medz1.access")
SERVICE = logging.getLogger("medz1.service")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
#: Key in the request's ``state`` of Set-Cookie header values to add to the response.
COOKIES = "medz1_set_cookies"
#: Key in the request's ``state`` of the authenticated user's id (for the access log).
USER_ID = "medz1_user_id"


class _BodyTooLarge(Exception):  # noqa: N818 - internal signal
    pass


def _problem(status: int, title: str, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    headers = [(b"content-type", b"application/problem+json")]
    return headers, body.encode()


class EdgeMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, max_body: int, secure: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.headers = [*_HEADERS, _HSTS] if secure else list(_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (HTTP only; others pass through unchanged)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})
        status = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers += self.headers
                for cookie in scope["state"].get(COOKIES, ()):
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self._announced_too_large(scope):
                await self._send_413(send_with_headers)
            else:
                await self.app(scope, self._counting(receive), send_with_headers)
        except _BodyTooLarge:
            if status["code"] == 0:
                await self._send_413(send_with_headers)
        except Exception as exc:  # noqa: BLE001 - the last boundary: answer, log the type only
            SERVICE.error(
                "unhandled %s on %s %s", type(exc).__name__, scope["method"], _path(scope)
            )
            if status["code"] == 0:
                headers, body = _problem(500, "Internal Server Error", "the service failed")
                await send_with_headers(
                    {"type": "http.response.start", "status": 500, "headers": headers}
                )
                await send_with_headers({"type": "http.response.body", "body": body})
        finally:
            self._log(scope, status["code"] or 500, started)

    def _announced_too_large(self, scope: Scope) -> bool:
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    return int(value) > self.max_body
                except ValueError:
                    return True
        return False

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        return counted

    async def _send_413(self, send: Send) -> None:
        detail = f"the request body is larger than {self.max_body} bytes"
        headers, body = _problem(413, "Content Too Large", detail)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        client = scope.get("client")
        line: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "request",
            "method": scope.get("method"),
            "path": _path(scope),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "client": client[0] if client else None,
            "user_id": scope["state"].get(USER_ID),
        }
        ACCESS.info(json.dumps(line))


def _path(scope: Scope) -> str:
    """The request path, never the query string."""
    return str(scope.get("path", ""))[:512]
