"""The PostgreSQL client programs a backup needs, and how medz1 runs them.

``pg_dump`` and ``pg_restore`` must be of the server's major version: the ones on ``PATH``
are used when they are, the bundled ones otherwise, and a server neither fits is refused.
Connection parameters, the password included, reach the programs through libpq
environment variables, never on their command line (which other users can read).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import URL

from medz1.embedded import binary, clean_env
from medz1.errors import ConfigurationError, DataError, ServerError

log = logging.getLogger(__name__)

#: URL query options medz1 passes on to libpq programs, with their environment variable.
_LIBPQ_ENV: dict[str, str] = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "passfile": "PGPASSFILE",
    "application_name": "PGAPPNAME",
}
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class Reporter(Protocol):
    """Receives progress from long operations; the CLI draws it, tests ignore it."""

    def step(self, description: str, total: int | None = None) -> None:
        """A new step begins (the previous one is done); ``total`` units if known."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more units of the current step are done (may be called from threads)."""


class NullReporter:
    """A reporter that shows nothing."""

    def step(self, description: str, total: int | None = None) -> None:
        """Ignore the step."""

    def advance(self, amount: int = 1) -> None:
        """Ignore the progress."""


@dataclass(frozen=True)
class PgTools:
    """``pg_dump`` and ``pg_restore`` of one major version."""

    pg_dump: Path
    pg_restore: Path
    major: int
    version: str
    origin: str  # "PATH" or "bundled"


def program_version(program: Path) -> str:
    """The version a PostgreSQL program reports (``18.6``), from ``--version``.

    Raises:
        ServerError: the program does not run or reports no version.
    """
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL program found by medz1
            [str(program), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerError(
            f"{program} does not run", hint="reinstall it, or remove it from PATH"
        ) from exc
    match = _VERSION.search(out)
    if match is None:
        raise ServerError(f"{program} reports no PostgreSQL version", hint="check your PATH")
    return f"{match.group(1)}.{match.group(2) or 0}"


def _pair(pg_dump: Path, origin: str) -> PgTools:
    pg_restore = pg_dump.with_name("pg_restore")
    version = program_version(pg_dump)
    if not pg_restore.exists() or program_version(pg_restore) != version:
        raise ServerError(
            f"no pg_restore of version {version} next to {pg_dump}",
            hint="install the PostgreSQL client programs together",
        )
    return PgTools(pg_dump, pg_restore, int(version.split(".")[0]), version, origin)


def choose_tools(server_major: int) -> PgTools:
    """``pg_dump``/``pg_restore`` of ``server_major``: from PATH if they fit, else bundled.

    Raises:
        ServerError: neither PATH nor the bundled server has a pg_dump that fits
            ``server_major``.
    """
    found = shutil.which("pg_dump")
    if found is not None:
        on_path = Path(found)
        if int(program_version(on_path).split(".")[0]) == server_major:
            return _pair(on_path, "PATH")
        log.info("pg_dump on PATH does not fit PostgreSQL %d; using the bundled one", server_major)
    bundled = _pair(binary("pg_dump"), "bundled")
    if bundled.major == server_major:
        return bundled
    path_note = f"pg_dump on PATH is {program_version(Path(found))}, " if found else ""
    raise ServerError(
        f"no pg_dump fits the server (PostgreSQL {server_major}): {path_note}"
        f"the bundled one is {bundled.version}",
        hint=f"put the PostgreSQL {server_major} client programs first on PATH",
    )


def _query_value(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def hosts_and_ports(url: URL) -> tuple[str | None, str | None]:
    """Libpq's ``host`` and ``port`` lists (comma-separated) for ``url``.

    SQLAlchemy keeps several hosts as ``?host=h1:5432&host=h2:5433``; libpq wants
    ``host=h1,h2 port=5432,5433`` (an empty port means the default).
    """
    given = url.query.get("host")
    if given is None:
        return url.host, None if url.port is None else str(url.port)
    hosts, ports = [], []
    for entry in (given,) if isinstance(given, str) else given:
        name, colon, port = entry.rpartition(":")
        if colon and port.isdigit() and name:  # as SQLAlchemy splits them, paths too
            hosts.append(name.removeprefix("[").removesuffix("]"))
            ports.append(port)
        else:
            hosts.append(entry)
            ports.append("")
    explicit = url.query.get("port")
    if explicit is not None:
        return ",".join(hosts), _query_value(explicit)
    if url.port is not None and not any(ports):
        return ",".join(hosts), str(url.port)
    return ",".join(hosts), ",".join(ports) if any(ports) else None


def libpq_env(url: URL, *, application_name: str = "medz1-backup") -> dict[str, str]:
    """The environment for a libpq program connecting like ``url`` (password included).

    Inherited ``PG*`` variables are dropped, so only ``url`` decides where the program goes.

    Raises:
        ConfigurationError: the URL carries an option libpq cannot take from the environment.
    """
    env = clean_env()
    env.update({"PGAPPNAME": application_name, "PGCONNECT_TIMEOUT": "10"})
    hosts, ports = hosts_and_ports(url)
    if hosts:
        env["PGHOST"] = hosts
    if ports:
        env["PGPORT"] = ports
    for key, value in url.query.items():
        if key in ("host", "port"):
            continue
        variable = _LIBPQ_ENV.get(key)
        if variable is None:
            raise ConfigurationError(
                f"the database URL option {key!r} cannot be passed to pg_dump/pg_restore",
                hint="use only libpq options with an environment variable (sslmode, ...)",
            )
        env[variable] = _query_value(value)
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    env["PGDATABASE"] = str(url.database)
    return env


def dbname_conninfo(database: str) -> str:
    """A ``dbname=...`` connection string naming ``database``, quoted for libpq."""
    escaped = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{escaped}'"


def last_line(text: str) -> str:
    """The last non-empty line of a program's error output."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def read_toc(tools: PgTools, archive: Path) -> str:
    """The table of contents of a custom-format archive (``pg_restore --list``).

    A corrupted or truncated archive is refused with :class:`DataError`.

    Raises:
        DataError: the archive cannot be read (corrupted or truncated).
    """
    result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
        [str(tools.pg_restore), "--list", str(archive)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    if result.returncode != 0:
        raise DataError(
            f"the archive {archive} cannot be read: {last_line(result.stderr)}",
            hint="the file is corrupted or truncated; use another backup",
        )
    return result.stdout


def toc_header(toc: str) -> Mapping[str, str]:
    """The ``; key: value`` lines at the top of a ``pg_restore --list`` output."""
    header: dict[str, str] = {}
    for line in toc.splitlines():
        if not line.startswith(";"):
            break
        key, sep, value = line[1:].partition(":")
        if sep:
            header[key.strip()] = value.strip()
    return header


_DATA_LINE = re.compile(r"^(\d+); \d+ \d+ TABLE DATA (\S+) (\S+) ")


def toc_data_items(toc: str) -> dict[int, str]:
    """Dump id -> ``schema.table`` of every table whose data the archive holds."""
    return {
        int(match[1]): f"{match[2]}.{match[3]}"
        for match in map(_DATA_LINE.match, toc.splitlines())
        if match is not None
    }


def toc_tables(toc: str) -> set[str]:
    """``schema.table`` of every table whose data the archive holds."""
    return set(toc_data_items(toc).values())
