"""Reporting standbys of the bundled server (``medz1 replica``).

A standby is a physical copy of the bundled cluster made by ``pg_basebackup -R``, kept
current by streaming replication through a replication slot of its own, and started as a
hot standby: it answers read-only queries (reporting) and refuses every write. medz1
remembers each standby it made in two places, so that it never touches a server it did
not create:

- the standby's folder holds ``medz1-standby.json`` (the primary's data directory, the
  slot, the port, the cluster's system identifier);
- the primary's data directory holds ``standbys.json``, the list of its standbys.

The replication role (``policy.REPLICATOR``) is created when the first standby is made;
its password is generated and kept in ``<primary data dir>/secrets/replicator.json``
(0600). The bundled build has no SSL: a standby on another machine would stream patient
data in clear, so these commands make standbys on the same machine only (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translate
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.errors import Medz1Error, NotFoundError, ServerError, UsageError
from medz1.ops.paths import NEW_FILE_FLAGS, refuse_link
from medz1.provision.declared import REPLICATOR, REPLICATOR_SPEC

#: File in a standby's folder that marks it as made by medz1.
MANIFEST = "medz1-standby.json"
#: File in the primary's data directory listing its standbys.
REGISTRY = "standbys.json"
#: The replication role's password, under the primary's data directory.
PASSWORD_FILE = Path("secrets") / "replicator.json"
#: Seconds ``create`` waits for the new standby to stream.
STREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class Standby:
    """One standby medz1 made.

    Attributes:
        data_dir: the standby's folder (its cluster is ``data_dir/pgdata``).
        primary_data_dir: data directory of the bundled server it copies.
        slot: the physical replication slot on the primary that keeps its WAL.
        port: port number of its socket (and of TCP on 127.0.0.1 when ``tcp``).
        tcp: whether it also listens on 127.0.0.1.
        system_identifier: the cluster's identifier, shared with the primary.
        promoted: True once ``promote`` made it a primary of its own.
    """

    data_dir: Path
    primary_data_dir: Path
    slot: str
    port: int | None
    tcp: bool
    system_identifier: str
    promoted: bool = False

    def server(self, *, start_timeout: float = 30.0) -> EmbeddedServer:
        """The standby's own bundled server."""
        return EmbeddedServer(
            self.data_dir,
            port=self.port if self.tcp else None,
            start_timeout=start_timeout,
        )


@dataclass(frozen=True)
class ReplicaStatus:
    """What ``medz1 replica status`` reports for one standby.

    Attributes:
        standby: the standby.
        running: its server runs.
        state: ``streaming``, ``catchup``, ``startup``, ``backup`` (the primary's
            ``pg_stat_replication.state``), ``disconnected`` (not connected to the
            primary), ``stopped``, ``promoted``, or ``lost``: the primary removed WAL
            the standby still needed (``max_slot_wal_keep_size``), so it can never catch
            up and must be removed and made again.
        in_recovery: True while it is a standby (read-only), None when not running.
        replay_lag_bytes: WAL the primary wrote that the standby has not replayed yet
            (bytes), None when the primary cannot tell.
        replay_lag_seconds: the primary's ``replay_lag`` (time between a commit on the
            primary and its replay on the standby), 0.0 when nothing is outstanding, None
            when unknown.
        retained_bytes: WAL the primary keeps for the slot (bytes), None without a slot.
    """

    standby: Standby
    running: bool
    state: str
    in_recovery: bool | None
    replay_lag_bytes: int | None
    replay_lag_seconds: float | None
    retained_bytes: int | None


def _admin_engine(server: EmbeddedServer) -> Engine:
    return make_engine(
        server.url("postgres", user=SUPERUSER),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        application_name="medz1:replica",
    )


def _scalar(server: EmbeddedServer, statement: str, params: dict[str, Any] | None = None) -> Any:
    engine = _admin_engine(server)
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement), params or {}).scalar()
    except DBAPIError as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        engine.dispose()


def _require_medz1_primary(primary: EmbeddedServer) -> None:
    """Refuse a data directory whose cluster medz1 did not create."""
    hba = primary.pgdata / "pg_hba.conf"
    try:
        made_by_medz1 = hba.read_text(encoding="utf-8").startswith("# Written by medz1")
    except OSError:
        made_by_medz1 = False
    if not made_by_medz1 or not (primary.pgdata / "medz1.conf").exists():
        raise UsageError(
            f"the server in {primary.data_dir} was not created by medz1",
            hint="replica commands make standbys of medz1's bundled server only; use your "
            "PostgreSQL's own replication tools for other servers",
        )


def _require_running(primary: EmbeddedServer) -> None:
    if not primary.status().running:
        raise ServerError(
            "the bundled server is not running", hint="run `medz1 server start` first"
        )


def _write_json(path: Path, data: object, *, private: bool = False) -> None:
    """Write JSON atomically (a temporary file renamed over ``path``)."""
    path.parent.mkdir(mode=0o700 if private else 0o755, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)  # a leftover (or a planted link) is never written through
    fd = os.open(temporary, NEW_FILE_FLAGS, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=str)
    temporary.replace(path)


def _from_json(data: dict[str, Any]) -> Standby:
    return Standby(
        data_dir=Path(data["data_dir"]),
        primary_data_dir=Path(data["primary_data_dir"]),
        slot=str(data["slot"]),
        port=int(data["port"]) if data.get("port") is not None else None,
        tcp=bool(data.get("tcp", False)),
        system_identifier=str(data["system_identifier"]),
        promoted=bool(data.get("promoted", False)),
    )


def registered(primary: EmbeddedServer) -> list[Standby]:
    """The standbys medz1 made of ``primary``, as its ``standbys.json`` lists them.

    Args:
        primary: the bundled server whose data directory holds the list.

    Returns:
        The standbys in the order they were made; empty when none was made.

    Raises:
        UsageError: the list exists but cannot be read or parsed.
    """
    try:
        entries = json.loads((primary.data_dir / REGISTRY).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{primary.data_dir / REGISTRY} cannot be read",
            hint="restore the file, or remove it and the standbys it listed by hand",
        ) from exc
    return [_from_json(entry) for entry in entries]


def _save_registry(primary: EmbeddedServer, standbys: list[Standby]) -> None:
    _write_json(primary.data_dir / REGISTRY, [asdict(s) for s in standbys])


def _record(primary: EmbeddedServer, standby: Standby) -> None:
    others = [s for s in registered(primary) if s.data_dir != standby.data_dir]
    _save_registry(primary, [*others, standby])
    _write_json(standby.data_dir / MANIFEST, asdict(standby))


def _folder(data_dir: Path) -> Path:
    """``data_dir`` made absolute; a path the OS cannot take (a NUL) is a usage error."""
    try:
        return data_dir.expanduser().resolve()
    except (ValueError, OSError, RuntimeError) as exc:
        raise UsageError("--data-dir is not a usable path", hint="give a folder's path") from exc


def find(primary: EmbeddedServer, data_dir: Path | None) -> Standby:
    """The standby in ``data_dir`` (or the only one), checked to be one medz1 made of ``primary``.

    Args:
        primary: the bundled server.
        data_dir: the standby's folder; None picks the only standby.

    Raises:
        NotFoundError: no standby, or several and none named.
        UsageError: the folder holds no standby medz1 made of this server.
    """
    standbys = registered(primary)
    if data_dir is None:
        if len(standbys) != 1:
            raise NotFoundError(
                "no standby of this server exists"
                if not standbys
                else f"this server has {len(standbys)} standbys",
                hint="run `medz1 replica create --data-dir DIR`"
                if not standbys
                else "name one with --data-dir",
            )
        data_dir = standbys[0].data_dir
    folder = _folder(data_dir)
    try:
        manifest = _from_json(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(
            f"{folder} holds no standby made by medz1",
            hint="replica commands manage only standbys made by `medz1 replica create`; "
            "`medz1 replica status` lists them",
        ) from exc
    ours = next((s for s in standbys if s.data_dir == folder), None)
    if ours is None or manifest.primary_data_dir != primary.data_dir:
        raise UsageError(
            f"{folder} is not a standby of the server in {primary.data_dir}",
            hint="set MEDZ1_DATA_DIR to the data directory of its primary",
        )
    return ours


def _replicator_password(primary: EmbeddedServer) -> str:
    path = primary.data_dir / PASSWORD_FILE
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["password"])
    except (OSError, ValueError, KeyError):
        password = secrets.token_urlsafe(32)
        _write_json(path, {"password": password}, private=True)
        return password


def _ensure_replicator(primary: EmbeddedServer, password: str) -> None:
    """Create or reset the replication role (LOGIN REPLICATION only) with ``password``."""
    engine = _admin_engine(primary)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": REPLICATOR}
            ).scalar()
            # libpq computes the verifier: the password itself never reaches the server.
            pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
            verifier: bytes = pgconn.encrypt_password(
                password.encode(), REPLICATOR.encode(), b"scram-sha-256"
            )
            limit = REPLICATOR_SPEC.limits.connection_limit if REPLICATOR_SPEC.limits else 5
            statement = sql.SQL(
                "{verb} ROLE {name} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB "
                "NOCREATEROLE NOBYPASSRLS NOINHERIT CONNECTION LIMIT {limit} PASSWORD {pw}"
            ).format(
                verb=sql.SQL("ALTER" if exists else "CREATE"),
                name=sql.Identifier(REPLICATOR),
                limit=sql.Literal(limit),
                pw=sql.Literal(verifier.decode()),
            )
            conn.exec_driver_sql(statement.as_string())
    except DBAPIError as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        engine.dispose()


def _drop_slot(primary: EmbeddedServer, slot: str) -> None:
    _scalar(
        primary,
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = :slot",
        {"slot": slot},
    )


def create(
    primary: EmbeddedServer,
    data_dir: Path,
    *,
    port: int | None = None,
    timeout: float = STREAM_TIMEOUT,
) -> Standby:
    """Make a hot standby of the running bundled server in ``data_dir`` and start it.

    Steps: the replication role (created or given a known password), its line in
    ``pg_hba.conf``, ``pg_basebackup -R`` with a new replication slot, the standby's
    start, then a wait until the primary sees it streaming. When a step fails, what the
    earlier steps made (slot, copied files, running standby) is removed again.

    Args:
        primary: the bundled server (running, made by medz1).
        data_dir: an empty or missing folder for the standby.
        port: also listen on 127.0.0.1:PORT; None: its unix socket only (in its folder).
        timeout: seconds to wait for streaming to begin.

    Returns:
        The standby, also recorded in both folders.

    Raises:
        UsageError: the primary was not made by medz1, or ``data_dir`` is not empty,
            lies inside the primary's folder, or ``port`` is the primary's.
        ServerError: the primary is not running, pg_basebackup failed, or the standby did
            not stream within ``timeout`` seconds.
    """
    _require_medz1_primary(primary)
    refuse_link(data_dir, option="--data-dir")
    folder = _folder(data_dir)
    if folder == primary.data_dir or primary.data_dir in folder.parents:
        raise UsageError(
            f"{folder} lies inside the primary's data directory",
            hint="give the standby a folder of its own, outside MEDZ1_DATA_DIR",
        )
    try:
        occupied = folder.exists() and (not folder.is_dir() or any(folder.iterdir()))
    except OSError as exc:
        raise UsageError(
            f"{folder} cannot be read ({exc.strerror})",
            hint="give a folder you can read and write",
        ) from exc
    if occupied:
        raise UsageError(
            f"{folder} is not an empty folder",
            hint="give an empty or new folder; medz1 never writes over existing files",
        )
    _require_running(primary)
    made_folder = not folder.exists()
    current = primary.status()
    if port is not None and current.tcp and port == current.port:
        raise UsageError(
            f"port {port} is the primary's", hint="choose another port for the standby"
        )
    identifier = str(_scalar(primary, "SELECT system_identifier FROM pg_control_system()"))
    slot = "medz1_standby_" + secrets.token_hex(4)
    password = _replicator_password(primary)
    _ensure_replicator(primary, password)
    primary.allow_replication(REPLICATOR)
    standby = Standby(
        data_dir=folder,
        primary_data_dir=primary.data_dir,
        slot=slot,
        port=port,
        tcp=port is not None,
        system_identifier=identifier,
    )
    server = standby.server(start_timeout=primary.start_timeout)
    try:
        server.base_backup(current, role=REPLICATOR, password=password, slot=slot)
        server.start()
        _record(primary, standby)
        _wait_streaming(primary, standby, timeout)
    except BaseException:
        _undo_create(primary, standby, server)
        if made_folder:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return standby


def _undo_create(primary: EmbeddedServer, standby: Standby, server: EmbeddedServer) -> None:
    with contextlib.suppress(Medz1Error):
        server.stop()
    with contextlib.suppress(Medz1Error):
        _drop_slot(primary, standby.slot)
    _forget(primary, standby)
    shutil.rmtree(server.pgdata, ignore_errors=True)


def _forget(primary: EmbeddedServer, standby: Standby) -> None:
    _save_registry(primary, [s for s in registered(primary) if s.data_dir != standby.data_dir])
    (standby.data_dir / MANIFEST).unlink(missing_ok=True)


def _wait_streaming(primary: EmbeddedServer, standby: Standby, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = status(primary, standby)
        if found.state == "streaming":
            return
        if time.monotonic() > deadline:
            raise ServerError(
                f"the standby did not start streaming within {timeout:g} s (state: {found.state})",
                hint=f"read its server log {standby.server().log_file}",
            )
        time.sleep(0.1)


_PRIMARY_VIEW = """
SELECT s.active,
       s.wal_status,
       r.state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM r.replay_lag)::float8 AS lag_seconds,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained
  FROM pg_replication_slots s
  LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
 WHERE s.slot_name = :slot
"""


def status(primary: EmbeddedServer, standby: Standby) -> ReplicaStatus:
    """Where ``standby`` stands: running, streaming, and how far behind the primary.

    Replay lag comes from the primary (``pg_stat_replication``): bytes of WAL not yet
    replayed and the last measured ``replay_lag``; PostgreSQL clears that to NULL once an
    idle standby has caught up, reported here as 0.0 when no byte is outstanding.

    Args:
        primary: the bundled server the standby follows.
        standby: one of :func:`registered`.

    Returns:
        Its state (``pg_stat_replication.state`` such as ``streaming``, or ``stopped``,
        ``disconnected``, ``lost``, ``promoted``),
        replay lag in bytes and seconds (None when unknown) and the WAL the primary
        retains for its slot, in bytes.
    """
    server = standby.server()
    running = server.status().running
    in_recovery: bool | None = None
    if running:
        in_recovery = bool(_scalar(server, "SELECT pg_is_in_recovery()"))
    if standby.promoted or in_recovery is False:
        return ReplicaStatus(standby, running, "promoted", in_recovery, None, None, None)
    row = None
    if primary.status().running:
        engine = _admin_engine(primary)
        try:
            with engine.connect() as conn:
                row = conn.execute(text(_PRIMARY_VIEW), {"slot": standby.slot}).one_or_none()
        finally:
            engine.dispose()
    if row is not None and row.wal_status == "lost":
        state = "lost"
    elif not running:
        state = "stopped"
    elif row is None or row.state is None:
        state = "disconnected"
    else:
        state = str(row.state)
    lag_bytes = int(row.lag_bytes) if row is not None and row.lag_bytes is not None else None
    lag_seconds: float | None = None
    if row is not None and row.lag_seconds is not None:
        lag_seconds = float(row.lag_seconds)
    elif lag_bytes == 0:
        lag_seconds = 0.0
    retained = int(row.retained) if row is not None and row.retained is not None else None
    return ReplicaStatus(standby, running, state, in_recovery, lag_bytes, lag_seconds, retained)


def promote(primary: EmbeddedServer, standby: Standby) -> Standby:
    """Make ``standby`` a primary of its own (for a failover) and drop its slot.

    The old primary keeps running and no longer retains WAL for it. The promoted server
    takes writes; nothing flows back to the old primary.

    Args:
        primary: the bundled server the standby follows.
        standby: one of :func:`registered`.

    Returns:
        The standby, marked as promoted in the list.

    Raises:
        UsageError: it was promoted already.
        ServerError: it is not running, or ``pg_ctl promote`` failed.
    """
    if standby.promoted:
        raise UsageError(
            f"the standby in {standby.data_dir} was promoted already",
            hint="`medz1 replica remove --force` deletes it",
        )
    server = standby.server(start_timeout=primary.start_timeout)
    if not server.status().running:
        raise ServerError(
            f"the standby in {standby.data_dir} is not running",
            hint="start it with `medz1 replica start`",
        )
    server.promote()
    promoted = replace(standby, promoted=True)
    _record(primary, promoted)
    if primary.status().running:
        _drop_slot(primary, standby.slot)
    return promoted


def start(standby: Standby) -> bool:
    """Start the standby's server; False when it ran already."""
    return standby.server().start()[1]


def remove(primary: EmbeddedServer, standby: Standby, *, force: bool = False) -> None:
    """Stop ``standby``, drop its slot on the primary, and delete its cluster.

    A promoted standby may hold writes made after the promotion: it is deleted only with
    ``force``.

    Args:
        primary: the bundled server the standby follows.
        standby: one of :func:`registered`.
        force: delete a promoted standby too.

    Raises:
        UsageError: a promoted standby without ``force``.
        ServerError: the primary is not running (its slot would keep WAL for ever).
    """
    if standby.promoted and not force:
        raise UsageError(
            f"the server in {standby.data_dir} was promoted and may hold new writes",
            hint="back it up first, then run `medz1 replica remove --force`",
        )
    if not standby.promoted and not primary.status().running:
        raise ServerError(
            "the bundled server is not running, so the standby's slot cannot be dropped",
            hint="run `medz1 server start` first",
        )
    server = standby.server(start_timeout=primary.start_timeout)
    server.stop()
    if primary.status().running:
        _drop_slot(primary, standby.slot)
    shutil.rmtree(server.pgdata, ignore_errors=True)
    _forget(primary, standby)
    with contextlib.suppress(OSError):  # other files of the user's stay
        standby.data_dir.rmdir()


def reporting_target(primary: EmbeddedServer, standby_dir: Path | None, database: str) -> Target:
    """Where reporting reads go: the standby in ``standby_dir`` when set, else the primary.

    Args:
        primary: the bundled server.
        standby_dir: ``MEDZ1_REPORTING_STANDBY``, a standby made by ``replica create``.
        database: the medz1 database's name.

    Raises:
        UsageError: ``standby_dir`` is no standby medz1 made of this server.
        ServerError: the standby is not running.
    """
    if standby_dir is None:
        return Target(url=primary.url(database, user=SUPERUSER), embedded=True)
    standby = find(primary, standby_dir)
    return Target(url=standby.server().url(database, user=SUPERUSER), embedded=True)
