"""Databases a restore builds: under a name that says unfinished, renamed only when verified.

A restore into a new database, ``verify``'s scratch database and the reference schema a
restore is compared with (:mod:`medz1.ops.backup.contents`) are all built under
``<name>__medz1_restoring_<8 hex>`` (S35). The database is created with connections
refused, CONNECT is revoked from PUBLIC and a marker comment is set before anyone may
connect, so a half-built database is never reachable by the application roles. A restore
renames it to the asked name only once verified; ``verify`` and the reference are dropped.

While it works, the building process holds a session advisory lock named after the
database, on a connection to the maintenance database. ``kill -9`` closes that connection,
the server releases the lock, and the next restore (or ``backup drop-restore``) finds the
leftover: the name pattern, the marker comment (or, if killed before the comment was set,
connections still refused) and a free lock. Nothing else is ever dropped.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from psycopg import sql
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import NotFoundError, UsageError

log = logging.getLogger(__name__)

MARK = "__medz1_restoring_"
#: First words of the comment on a database medz1 is building.
COMMENT_PREFIX = "medz1 unfinished restore "
_PATTERN = re.compile(r"^[a-z0-9_]{0,37}__medz1_restoring_[0-9a-f]{8}$")
#: First key of the advisory locks medz1 restores hold ("mz1r").
_LOCK_SPACE = 0x6D7A3172


@dataclass(frozen=True)
class Unfinished:
    """A database medz1 is building or was building when it was killed."""

    name: str
    purpose: str
    into: str
    started: str
    in_progress: bool
    size: int

    def as_json(self) -> dict[str, object]:
        """The entry as JSON-ready values."""
        return {
            "name": self.name,
            "purpose": self.purpose,
            "into": self.into,
            "started": self.started,
            "in_progress": self.in_progress,
            "size": self.size,
        }


def is_unfinished_name(name: str) -> bool:
    """True when ``name`` has the shape of a database medz1 builds."""
    return _PATTERN.match(name) is not None


def _admin(server: Target) -> Connection:
    engine = make_engine(server.maintenance_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    return engine.connect()


def _lock_sql(function: str) -> str:
    return f"SELECT {function}({_LOCK_SPACE}, hashtext(:name))"


_LIST = text(
    """
    SELECT d.datname, COALESCE(shobj_description(d.oid, 'pg_database'), ''),
           d.datallowconn, pg_database_size(d.oid)
    FROM pg_database d WHERE d.datname LIKE '%\\_\\_medz1\\_restoring\\_%' ORDER BY 1
    """
)


def _marker(comment: str, *, allow_connections: bool) -> dict[str, str] | None:
    """The details of a medz1 marker comment; ``{}`` for a database killed before it."""
    if comment.startswith(COMMENT_PREFIX):
        try:
            details = json.loads(comment[len(COMMENT_PREFIX) :])
        except ValueError:
            return {}
        return {k: str(v) for k, v in details.items()} if isinstance(details, dict) else {}
    if not comment and not allow_connections:
        return {}
    return None


def list_unfinished(server: Target) -> list[Unfinished]:
    """Every database medz1 is building or left behind, on the server of ``server``."""
    with translated(what="the PostgreSQL server"), _admin(server) as conn:
        found = []
        for name, comment, allow, size in conn.execute(_LIST).all():
            details = _marker(str(comment), allow_connections=bool(allow))
            if not is_unfinished_name(str(name)) or details is None:
                continue
            free = bool(
                conn.execute(text(_lock_sql("pg_try_advisory_lock")), {"name": name}).scalar()
            )
            if free:
                conn.execute(text(_lock_sql("pg_advisory_unlock")), {"name": name})
            found.append(
                Unfinished(
                    name=str(name),
                    purpose=details.get("purpose", "?"),
                    into=details.get("into", str(name).split(MARK, 1)[0]),
                    started=details.get("started", "?"),
                    in_progress=not free,
                    size=int(size),
                )
            )
        conn.engine.dispose()
    return found


def drop_unfinished(server: Target, name: str) -> None:
    """Drop one leftover of a killed restore.

    Args:
        server: the server, reached as the administrator.
        name: the leftover database's name, as ``medz1 backup list-restores`` shows it.

    Raises:
        NotFoundError: no database of that name is a medz1 leftover (nothing is dropped).
        UsageError: a live restore is still building it.
    """
    with translated(what="the PostgreSQL server"), _admin(server) as conn:
        try:
            known = {u.name: u for u in list_unfinished(server)}
            if name not in known:
                raise NotFoundError(
                    f"{name!r} is not a database a medz1 restore left behind; nothing dropped",
                    hint="see `medz1 backup list-restores`",
                )
            if not conn.execute(text(_lock_sql("pg_try_advisory_lock")), {"name": name}).scalar():
                raise UsageError(
                    f"database {name} is being built by a running restore",
                    hint="wait for it to finish or stop it first",
                )
            try:
                _drop(conn, name)
            finally:
                conn.execute(text(_lock_sql("pg_advisory_unlock")), {"name": name})
        finally:
            conn.engine.dispose()


def clean_leftovers(server: Target) -> list[str]:
    """Drop every leftover no live restore is building; return their names."""
    dropped = []
    for entry in list_unfinished(server):
        if entry.in_progress:
            continue
        try:
            drop_unfinished(server, entry.name)
        except UsageError:
            continue  # taken by a restore that started meanwhile
        log.info("dropped %s, left behind by an interrupted restore", entry.name)
        dropped.append(entry.name)
    return dropped


def _drop(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)).as_string()
    )


class ScratchDatabase:
    """A new database built under an unfinished name; dropped on exit unless finished.

    ``purpose`` is ``restore``, ``verify`` or ``reference``; ``into`` the name it is meant
    to get (``finish`` renames it so).
    """

    def __init__(self, server: Target, *, into: str, purpose: str) -> None:
        self._server = server
        self.into = into
        self.purpose = purpose
        self.name = f"{into[:37]}{MARK}{secrets.token_hex(4)}"
        self._conn: Connection | None = None
        self._finished = False

    @property
    def target(self) -> Target:
        """The database being built (under its unfinished name)."""
        return Target(url=self._server.url.set(database=self.name), embedded=self._server.embedded)

    def __enter__(self) -> ScratchDatabase:
        clean_leftovers(self._server)
        with translated(what="the PostgreSQL server"):
            self._conn = conn = _admin(self._server)
            try:
                conn.execute(text(_lock_sql("pg_advisory_lock")), {"name": self.name})
                self._create(conn)
            except BaseException:
                self._close()
                raise
        return self

    def _create(self, conn: Connection) -> None:
        name = sql.Identifier(self.name)
        comment = COMMENT_PREFIX + json.dumps(
            {
                "purpose": self.purpose,
                "into": self.into,
                "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        statements = [
            sql.SQL(
                "CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0 ALLOW_CONNECTIONS false"
            ),
            sql.SQL("REVOKE ALL ON DATABASE {name} FROM PUBLIC"),
            sql.SQL("COMMENT ON DATABASE {name} IS {comment}"),
            sql.SQL("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
        ]
        for statement in statements:
            conn.exec_driver_sql(
                statement.format(name=name, comment=sql.Literal(comment)).as_string()
            )
        log.info("building database %s", self.name)

    def finish(self) -> Target:
        """Rename the verified database to its asked name (every connection to it closed).

        Raises:
            UsageError: a database of that name appeared meanwhile (the scratch one is
                dropped on exit).
        """
        assert self._conn is not None
        try:
            self._conn.exec_driver_sql(
                sql.SQL("ALTER DATABASE {} RENAME TO {}")
                .format(sql.Identifier(self.name), sql.Identifier(self.into))
                .as_string()
            )
        except sa_exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "42P04":
                raise UsageError(
                    f"database {self.into} appeared while the restore ran; nothing was kept",
                    hint="choose another name with --into",
                ) from exc
            raise
        self._finished = True
        self._conn.exec_driver_sql(
            sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(self.into)).as_string()
        )
        return Target(url=self._server.url.set(database=self.into), embedded=self._server.embedded)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if not self._finished and self._conn is not None:
                log.info("dropping database %s", self.name)
                with translated(what="the PostgreSQL server"):
                    _drop(self._conn, self.name)
        finally:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()  # ends the session: releases the advisory lock
            conn.engine.dispose()
