"""The medz1 web service: server-rendered patient pages and a JSON API (FastAPI).

Layout: ``app`` (``create_app``), ``service`` (per-process state), ``middleware`` (body
limit, security headers, access log), ``security`` (cookie, bearer, CSRF), ``problems``
(errors as RFC 9457 problem details), ``auth_routes`` (login, logout), ``pages``
(Jinja2), ``api_v1`` (JSON), ``views`` (audited reads), ``schemas`` (response models),
``health`` (probes). Nothing connects or reads settings at import.
"""

from __future__ import annotations

from medz1.api.app import create_app

__all__ = ["create_app"]
