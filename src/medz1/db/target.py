"""Where the medz1 database lives: the embedded server or ``MEDZ1_DATABASE_URL``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL

MAINTENANCE_DATABASE = "postgres"


@dataclass(frozen=True)
class Target:
    """Administrator URLs of the medz1 database and of its server's maintenance database."""

    url: URL
    embedded: bool
    #: Where the reporting role's reads go (``MEDZ1_REPORTING_URL``); None: ``url``.
    reporting_url: URL | None = None

    @property
    def database(self) -> str:
        """Name of the medz1 database."""
        return str(self.url.database)

    @property
    def maintenance_url(self) -> URL:
        """The same server and credentials, on the ``postgres`` database."""
        return self.url.set(database=MAINTENANCE_DATABASE)

    def describe(self) -> str:
        """The URL with its password hidden, for output and logs."""
        return self.url.render_as_string(hide_password=True)
