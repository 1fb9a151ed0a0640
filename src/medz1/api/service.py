"""What every request of the service shares: the engine, the auth rules, the clock, limits.

Built once per process by :func:`medz1.api.app.create_app`'s lifespan and kept on
``app.state.medz1``; nothing here is created at import.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from medz1.auth.config import AuthConfig
from medz1.auth.passwords import PasswordHasher
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC (the service's default clock)."""
    return datetime.now(UTC)


def database_target(settings: Settings) -> Target:
    """Where the medz1 database is: ``MEDZ1_DATABASE_URL`` or the bundled server's socket.

    The bundled server is not started here; ``medz1 serve`` starts it before the workers.
    """
    if not settings.embedded:
        return Target(url=settings.external_url(), embedded=False)
    server = EmbeddedServer(settings.data_dir, port=settings.port)
    return Target(url=server.url(settings.database_name, user=SUPERUSER), embedded=True)


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds (a sliding log).

    Kept in memory, per worker process: with N workers a client gets at most N x limit
    attempts, still a hard bound on password guessing at the service's edge (the store's
    lockout, S8, bounds guesses per account).
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Count one event for ``key``; return 0 when allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            events.append(now)
            if len(self._events) > 100_000:  # forget idle clients; bounded memory
                self._events = {k: v for k, v in self._events.items() if v}
            return 0


@dataclass(frozen=True)
class ViewerNotice:
    """The system settings every page of the viewer obeys (``admin.system_settings``).

    Attributes:
        banner: ``viewer.banner_message``, shown at the top of every page ("" for none).
        maintenance: ``viewer.maintenance_mode``: only administrators may use the viewer.
    """

    banner: str = ""
    maintenance: bool = False


class NoticeCache:
    """:class:`ViewerNotice`, read at most once per ``ttl`` seconds per process.

    A change made with ``medz1 settings set`` reaches every page within ``ttl`` seconds,
    without a query per request. When the settings cannot be read, the last value read
    stays (the defaults before the first read) for another ``ttl`` seconds: the request's
    own queries report the database being down.
    """

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._value = ViewerNotice()
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read the settings again on the next :meth:`get`."""
        with self._lock:
            self._read_at = None

    def get(self, engine: Engine) -> ViewerNotice:
        """The current notice, read through ``engine`` (the application role) when the
        cached one is older than ``ttl`` seconds.
        """
        from medz1.admin.system_settings import value_of

        now = self._clock()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self.ttl:
                return self._value
            try:
                with Session(engine) as session:
                    banner = value_of(session, "viewer.banner_message")
                    maintenance = value_of(session, "viewer.maintenance_mode")
                    session.rollback()
            except SQLAlchemyError:
                # Tried again after ``ttl`` seconds, not by every request in between (each
                # would wait for the database under this lock).
                self._read_at = now
                return self._value
            self._value = ViewerNotice(str(banner or ""), bool(maintenance))
            self._read_at = now
            return self._value


@dataclass
class Service:
    """The shared state of one service process.

    Attributes:
        settings: the validated settings.
        engine: connects as ``med_z1_user`` with a bounded pool (S24, S26).
        hasher: argon2id with the configured parameters.
        auth: lockout and session rules of the authentication store.
        clock: the time source (UTC); tests move it.
        login_limiter: per-client login attempts per minute.
        notice: the banner and maintenance switch of ``admin.system_settings``, cached.
    """

    settings: Settings
    engine: Engine
    hasher: PasswordHasher
    auth: AuthConfig
    clock: Clock = utc_now
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10))
    notice: NoticeCache = field(default_factory=NoticeCache)

    @property
    def secure(self) -> bool:
        """True when the service is reached over HTTPS (``MEDZ1_SERVICE_SECURE``)."""
        return self.settings.service_secure
