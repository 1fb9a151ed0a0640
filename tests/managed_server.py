"""The test suite's second server: a bundled PostgreSQL reached over TCP with a SCRAM
password, where medz1's administrator is not a superuser (the managed-service case).

``MEDZ1_TEST_SERVER=managed`` selects it. The harness's own superuser only prepares the
server, as a managed service's operator would: it creates the administrator role (LOGIN
CREATEROLE CREATEDB, no superuser, no BYPASSRLS) and, for each database the tests hand to
medz1 before ``up``, installs the ``vector`` extension, which only a superuser may create
on vanilla PostgreSQL (managed services install it for their administrator).
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.embedded import SUPERUSER, EmbeddedServer

#: The environment variable that selects the managed-service server, and its value.
SELECTOR = "MEDZ1_TEST_SERVER"
MANAGED = "managed"
#: medz1's administrator on that server.
ADMIN = "medz1_test_admin"
#: Extensions that need a superuser to create (pg_trgm is trusted: a database owner may).
SUPERUSER_EXTENSIONS = ("vector",)


def managed_selected() -> bool:
    """True when this test session runs against the managed-service server."""
    return os.environ.get(SELECTOR, "") == MANAGED


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ManagedServer(EmbeddedServer):
    """A bundled server listening on 127.0.0.1 whose :meth:`url` connects, over TCP with
    a password, as the non-superuser administrator :data:`ADMIN` (asked for the superuser,
    which medz1 never gets here)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, port=_free_port())
        self.admin_password = secrets.token_urlsafe(24)

    def superuser_url(self, database: str) -> URL:
        """The harness's own superuser, over the unix socket (preparation only)."""
        return super().url(database, user=SUPERUSER)

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None) -> URL:
        """A TCP URL; the superuser is replaced by the non-superuser administrator."""
        if user == SUPERUSER:
            user, password = ADMIN, self.admin_password
        return URL.create(
            "postgresql+psycopg",
            username=user,
            password=password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def _superuser(self, database: str = "postgres") -> Engine:
        return make_engine(
            self.superuser_url(database), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )

    def prepare(self) -> None:
        """Create the administrator role, as a managed service's operator does."""
        engine = self._superuser()
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER NOBYPASSRLS "
                        "NOREPLICATION PASSWORD {}"
                    )
                    .format(sql.Identifier(ADMIN), sql.Literal(self.admin_password))
                    .as_string()
                )
        finally:
            engine.dispose()

    def provide_database(self, name: str) -> None:
        """A new empty database owned by the administrator, with the extensions only a
        superuser may create already installed (what a managed service's console does)."""
        engine = self._superuser()
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(
                    sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0")
                    .format(sql.Identifier(name), sql.Identifier(ADMIN))
                    .as_string()
                )
        finally:
            engine.dispose()
        engine = self._superuser(name)
        try:
            with engine.connect() as conn:
                for extension in SUPERUSER_EXTENSIONS:
                    conn.exec_driver_sql(
                        sql.SQL("CREATE EXTENSION {} SCHEMA public")
                        .format(sql.Identifier(extension))
                        .as_string()
                    )
        finally:
            engine.dispose()
