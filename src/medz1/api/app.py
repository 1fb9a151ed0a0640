"""The service's application factory: ``create_app(settings)``.

The engine is opened in the lifespan (never at import), as ``med_z1_user`` with a bounded
pool (``MEDZ1_SERVICE_POOL_SIZE`` connections, no overflow, ``MEDZ1_SERVICE_POOL_TIMEOUT_
SECONDS`` of waiting, then 503), and disposed at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from medz1 import __version__
from medz1.api import admin, api_v1, auth_routes, health, pages, problems
from medz1.api.middleware import EdgeMiddleware
from medz1.api.service import Clock, RateLimiter, Service, database_target, utc_now
from medz1.auth.config import AuthConfig, hasher_from_settings
from medz1.provision.connect import application_engine_at
from medz1.provision.credentials import role_plan_from_settings
from medz1.settings import Settings


def open_service(settings: Settings, *, clock: Clock = utc_now) -> Service:
    """Everything a worker needs: the application role's engine, hasher and rules.

    Raises:
        ConfigurationError: the application role's password is unknown, or the argon2id
            parameters are unusable.
    """
    passwords = role_plan_from_settings(settings, generate_passwords=False).passwords
    engine = application_engine_at(
        database_target(settings),
        passwords,
        settings.pooler_url,
        pool_size=settings.service_pool_size,
        max_overflow=0,
        pool_timeout=settings.service_pool_timeout_seconds,
    )
    return Service(
        settings=settings,
        engine=engine,
        hasher=hasher_from_settings(settings),
        auth=AuthConfig.from_settings(settings),
        clock=clock,
        login_limiter=RateLimiter(settings.service_login_attempts_per_minute),
    )


def create_app(settings: Settings, *, clock: Clock = utc_now) -> FastAPI:
    """The medz1 web service (pages, JSON API, probes) for ``settings``.

    Args:
        settings: validated settings (``MEDZ1_*``).
        clock: the UTC time source (tests pass one they move).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = open_service(settings, clock=clock)
        app.state.medz1 = service
        try:
            yield
        finally:
            service.engine.dispose()

    app = FastAPI(
        title="medz1",
        version=__version__,
        summary="The med-z1 clinical viewer's service: patient pages and JSON API.",
        lifespan=lifespan,
        docs_url=None,  # the interactive pages need inline script (refused by the CSP)
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    problems.install(app)
    app.add_middleware(
        EdgeMiddleware, max_body=settings.service_max_body_bytes, secure=settings.service_secure
    )
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(api_v1.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
