"""Build settings, the embedded server and database targets for the commands.

The CLI is one of the two edges allowed to build these (the API is the other).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.errors import ServerError
from medz1.provision.credentials import Policy, policy_from_settings
from medz1.settings import Settings, load_settings


@dataclass
class State:
    """Options of the top-level command, shared with the subcommands."""

    traceback: bool = False
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """The validated settings, read once from the environment."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def reset(self) -> None:
        """Forget options and settings (each command line starts afresh)."""
        self.traceback = False
        self.verbose = False
        self._settings = None


state = State()


def server(settings: Settings) -> EmbeddedServer:
    """The embedded server of the data directory; refuses when an external URL is set."""
    if not settings.embedded:
        raise ServerError(
            "MEDZ1_DATABASE_URL is set, so medz1 uses that server and runs none of its own",
            hint="unset MEDZ1_DATABASE_URL to use the embedded server",
        )
    return EmbeddedServer(
        settings.data_dir, port=settings.port, start_timeout=settings.start_timeout
    )


def target(settings: Settings, *, start: bool = False) -> Target:
    """The administrator target of the medz1 database; starts the embedded server if asked."""
    reporting = settings.reporting_target_url()
    if not settings.embedded:
        return Target(url=settings.external_url(), embedded=False, reporting_url=reporting)
    embedded = server(settings)
    if start:
        embedded.start()
    return Target(
        url=embedded.url(settings.database_name, user=SUPERUSER),
        embedded=True,
        reporting_url=reporting,
    )


def admin_engine(settings: Settings, *, start: bool = False) -> tuple[Target, Engine]:
    """Target and an administrator engine on the medz1 database."""
    where = target(settings, start=start)
    return where, make_engine(where.url)


def policy(settings: Settings, *, generate_passwords: bool = False) -> Policy:
    """The declared role and grant policy, with the passwords medz1 knows."""
    return policy_from_settings(settings, generate_passwords=generate_passwords)
