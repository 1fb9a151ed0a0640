"""Signed checkpoints of the audit chain, kept outside the database (S19).

The database chains audit rows with plain SHA-256 (migrations 0003 and 0005), which anyone
who can write the tables can recompute. What makes the chain keyed is this module: after a
transaction that wrote audit rows commits, medz1 appends one line to
``<data dir>/audit/checkpoints.jsonl`` (0600, fsynced) naming the newest row it wrote
(transactions of one process that commit at the same time share one line and one fsync,
naming the newest of their rows: group commit, :meth:`CheckpointLog.cover`):
database, ``chain_seq``, ``row_hash``, time, and an HMAC-SHA256 of those fields under a key
that never enters the database (``MEDZ1_AUDIT_KEY``, or ``<data dir>/secrets/audit.key``,
0600, generated once). Because each row hash covers every earlier row, a checkpoint at
``chain_seq`` n pins rows 1..n: ``medz1 audit verify`` finds a rewrite (the row's hash at n
differs), a rewind (n is beyond the newest row) and a forged or altered line (bad HMAC),
and a missing file while the key exists and the table has rows.

A line is ``{"v": 1, "kind": "checkpoint" | "epoch", "db": ..., "seq": ..., "hash": hex,
"at": ISO time, "reason": ..., "mac": hex}``; the MAC covers the compact JSON of every
field but ``mac`` with sorted keys. An ``epoch`` line starts a new comparison base for its
database (a restore that legitimately rewinds the chain writes one); checkpoints of earlier
epochs are kept and their signatures still checked, but not compared with the rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from medz1.errors import ConfigurationError

__all__ = [
    "CHECKPOINTS_FILE",
    "KEY_FILE",
    "Checkpoint",
    "CheckpointLog",
    "CheckpointScan",
    "active",
    "has_provider",
    "install",
    "installed",
    "load_key",
    "log_for",
]

CHECKPOINTS_FILE = Path("audit") / "checkpoints.jsonl"
"""Where checkpoints are kept, under the data directory."""
KEY_FILE = Path("secrets") / "audit.key"
"""Where the generated checkpoint key is kept, under the data directory."""
_VERSION = 1
_KINDS = frozenset({"checkpoint", "epoch"})
_MIN_KEY_CHARS = 32


@dataclass(frozen=True)
class Checkpoint:
    """One signed line of the checkpoint file.

    Attributes:
        kind: ``checkpoint``, or ``epoch`` for the start of a new comparison base.
        database: the database whose chain it pins.
        seq: ``chain_seq`` of the newest audit row when it was written.
        row_hash: that row's ``row_hash``.
        at: when it was written (UTC, the writer's clock).
        line: its line number in the file (1-based).
        reason: why an epoch started (``restore``, ...), else None.
    """

    kind: str
    database: str
    seq: int
    row_hash: bytes
    at: datetime
    line: int
    reason: str | None = None


@dataclass(frozen=True)
class CheckpointScan:
    """What the checkpoint file says about one database.

    Attributes:
        exists: the file exists.
        current: checkpoints of the current epoch of that database, in file order.
        lines: lines read (all databases).
        earlier: checkpoints of that database in earlier epochs (signatures checked only).
        bad_line: number of the first line whose signature or form is wrong, else None.
        bad_reason: what is wrong with it.
    """

    exists: bool
    current: list[Checkpoint] = field(default_factory=list)
    lines: int = 0
    earlier: int = 0
    bad_line: int | None = None
    bad_reason: str | None = None


def _mac(key: bytes, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Ticket:
    """One committed transaction's wish: a checkpoint at ``seq`` or later is on disk."""

    __slots__ = ("database", "done", "error", "row_hash", "seq")

    def __init__(self, database: str, seq: int, row_hash: bytes) -> None:
        self.database = database
        self.seq = seq
        self.row_hash = row_hash
        self.done = False
        self.error: ConfigurationError | None = None


class CheckpointLog:
    """The checkpoint file of one data directory and the key that signs it.

    Appends are one ``write`` of whole lines to a file opened with ``O_APPEND``, then
    ``fsync``: concurrent writers (threads or processes) never interleave lines.

    :meth:`cover` is group commit: the threads of a process that committed audit rows at
    the same time wait for one ``fsync`` of one line per database, naming the newest of
    their rows. Because each row's hash covers every earlier row of the chain, and the
    chain head lock makes ``chain_seq`` order the commit order, that line pins every row
    the group committed (S19).
    """

    def __init__(self, path: Path, key: bytes, *, fresh_key: bool = False) -> None:
        """Use the file at ``path`` (created on the first append) and the HMAC ``key``;
        ``fresh_key`` says the key was generated just now (so no file can have existed).
        """
        self.path = path
        self.fresh_key = fresh_key
        self._key = key
        self._group = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._flushing = False
        self._io = threading.Lock()  # one writer of this process at a time: lines in order

    def __repr__(self) -> str:
        return f"CheckpointLog({str(self.path)!r})"  # never the key

    def append(
        self,
        *,
        database: str,
        seq: int,
        row_hash: bytes,
        kind: str = "checkpoint",
        reason: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Sign and append one line; it is on disk when this returns.

        Raises:
            ConfigurationError: the file or its folder cannot be written.
        """
        if kind not in _KINDS:
            raise ValueError(f"unknown checkpoint kind {kind!r}")
        line = self._line(database, seq, row_hash, kind, reason, at)
        with self._io:
            self._write(line)

    def cover(self, *, database: str, seq: int, row_hash: bytes) -> None:
        """Return once a signed checkpoint at ``chain_seq`` ``seq`` or later of ``database``
        is on disk (group commit; see the class).

        Call it only for a committed row ``seq`` whose hash is ``row_hash``. A thread that
        finds no write in progress writes the line of every waiting thread (the newest
        ``chain_seq`` of each database) and fsyncs once; the others wait for it.

        Raises:
            ConfigurationError: the line covering ``seq`` could not be written.
        """
        ticket = _Ticket(database, int(seq), bytes(row_hash))
        with self._group:
            self._waiting.append(ticket)
            while not ticket.done:
                if self._flushing:
                    self._group.wait()
                    continue
                batch, self._waiting, self._flushing = self._waiting, [], True
                self._group.release()
                error: ConfigurationError | None = ConfigurationError(
                    "the audit checkpoint was not written", hint="see the service's log"
                )
                try:
                    error = self._flush(batch)
                finally:  # never leave the batch waiting, whatever happened
                    self._group.acquire()
                    self._flushing = False
                    for waiter in batch:
                        waiter.done, waiter.error = True, error
                    self._group.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _flush(self, batch: list[_Ticket]) -> ConfigurationError | None:
        newest: dict[str, _Ticket] = {}
        for ticket in batch:
            known = newest.get(ticket.database)
            if known is None or ticket.seq > known.seq:
                newest[ticket.database] = ticket
        lines = b"".join(
            self._line(t.database, t.seq, t.row_hash, "checkpoint", None, None)
            for t in newest.values()
        )
        try:
            with self._io:
                self._write(lines)
        except ConfigurationError as exc:
            return exc
        return None

    def _line(
        self,
        database: str,
        seq: int,
        row_hash: bytes,
        kind: str,
        reason: str | None,
        at: datetime | None,
    ) -> bytes:
        fields: dict[str, Any] = {
            "v": _VERSION,
            "kind": kind,
            "db": database,
            "seq": int(seq),
            "hash": bytes(row_hash).hex(),
            "at": (at or datetime.now(UTC)).astimezone(UTC).isoformat(),
        }
        if reason is not None:
            fields["reason"] = reason
        fields["mac"] = _mac(self._key, fields)
        return (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode()

    def _write(self, data: bytes) -> None:
        """Append ``data`` (whole lines) and fsync; the caller holds ``_io``."""
        try:
            folder = self.path.parent
            created_folder = not folder.exists()
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = 0
                while written < len(data):  # one write, unless the kernel takes less
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            finally:
                os.close(fd)
            if created or created_folder:
                _fsync_dir(folder)
            self.fresh_key = False  # from now on a missing file was deleted
        except OSError as exc:
            raise ConfigurationError(
                f"the audit checkpoint file {self.path} cannot be written "
                "(the audit rows themselves are committed)",
                hint="make the data directory writable by the user running medz1",
            ) from exc

    def scan(self, database: str) -> CheckpointScan:
        """Read and check every line; return the current epoch's checkpoints of ``database``.

        Reading stops at the first line with a bad signature or form (it is reported).

        Raises:
            ConfigurationError: the file exists but cannot be read.
        """
        if not self.path.exists():
            return CheckpointScan(exists=False)
        current: list[Checkpoint] = []
        earlier = number = 0
        try:
            with self.path.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    point, problem = self._parse(raw, number)
                    if point is None:
                        return CheckpointScan(
                            exists=True,
                            current=current,
                            lines=number,
                            earlier=earlier,
                            bad_line=number,
                            bad_reason=problem,
                        )
                    if point.database != database:
                        continue
                    if point.kind == "epoch":
                        earlier += len(current)
                        current = []
                    current.append(point)
        except OSError as exc:
            raise ConfigurationError(
                f"the audit checkpoint file {self.path} cannot be read",
                hint="check its owner and mode (0600, the user running medz1)",
            ) from exc
        return CheckpointScan(exists=True, current=current, lines=number, earlier=earlier)

    def _parse(self, raw: bytes, number: int) -> tuple[Checkpoint | None, str]:
        try:
            fields = json.loads(raw)
            mac = str(fields.pop("mac")) if isinstance(fields, dict) else None
        except (ValueError, TypeError, KeyError):
            mac = None
        if mac is None:
            return None, f"line {number} is not a checkpoint (damaged or inserted)"
        if not hmac.compare_digest(mac, _mac(self._key, fields)):
            return None, f"line {number} has a bad signature (forged or altered)"
        try:
            point = Checkpoint(
                kind=str(fields["kind"]),
                database=str(fields["db"]),
                seq=int(fields["seq"]),
                row_hash=bytes.fromhex(str(fields["hash"])),
                at=datetime.fromisoformat(str(fields["at"])),
                line=number,
                reason=fields.get("reason"),
            )
        except (KeyError, ValueError, TypeError):
            return None, f"line {number} is signed but malformed"
        if point.kind not in _KINDS or fields.get("v") != _VERSION:
            return None, f"line {number} has an unknown kind or version"
        return point, ""


def load_key(data_dir: Path, configured: SecretStr | None, *, create: bool) -> bytes | None:
    """The checkpoint key: ``configured`` (``MEDZ1_AUDIT_KEY``), else the key file.

    With ``create``, a missing key file is generated (32 random bytes, hex, mode 0600 in a
    0700 folder; never overwritten). Returns None when there is no key and ``create`` is
    False.

    Raises:
        ConfigurationError: the configured key is shorter than 32 characters, or the key
            file cannot be read, is malformed or cannot be created.
    """
    return _load_key(data_dir, configured, create=create)[0]


def _load_key(
    data_dir: Path, configured: SecretStr | None, *, create: bool
) -> tuple[bytes | None, bool]:
    created = False
    if configured is not None and configured.get_secret_value():
        value = configured.get_secret_value()
        if len(value) < _MIN_KEY_CHARS:
            raise ConfigurationError(
                f"MEDZ1_AUDIT_KEY must be at least {_MIN_KEY_CHARS} characters",
                hint="use a random value, e.g. 64 hex digits",
            )
        return value.encode("utf-8"), False
    path = data_dir / KEY_FILE
    if not path.exists() and create:
        created = _create_key(path)
    if not path.exists():
        return None, False
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"the audit key file {path} cannot be read or is malformed",
            hint="restore it from a backup of the data directory; without it checkpoints "
            "cannot be checked",
        ) from exc
    if len(key) < _MIN_KEY_CHARS // 2:
        raise ConfigurationError(f"the audit key file {path} is too short", hint="restore it")
    return key, created


def _create_key(path: Path) -> bool:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # another process generated it first; use theirs
    except OSError as exc:
        raise ConfigurationError(
            f"the audit key file {path} cannot be created",
            hint="make the data directory writable, or set MEDZ1_AUDIT_KEY",
        ) from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def log_for(
    data_dir: Path, configured: SecretStr | None, *, create_key: bool
) -> CheckpointLog | None:
    """The checkpoint log of a data directory (``settings.data_path``, ``settings.audit_key``).

    With ``create_key`` a missing key file is generated (writers); without, None is
    returned when there is no key (readers).

    Raises:
        ConfigurationError: see :func:`load_key`.
    """
    key, created = _load_key(data_dir, configured, create=create_key)
    if key is None:
        return None
    return CheckpointLog(data_dir / CHECKPOINTS_FILE, key, fresh_key=created)


# -- the log medz1 writes to after each commit -----------------------------------------------

Provider = Callable[[], CheckpointLog | None]
_lock = threading.Lock()
_providers: list[Provider] = []
_resolved: dict[int, CheckpointLog | None] = {}


def install(provider: Provider) -> Callable[[], None]:
    """Make ``provider``'s log the one audit writes in this process are checkpointed to.

    ``provider`` is called once, at the first commit that wrote audit rows (so a command
    that writes none never reads the key). The edges install it (the CLI for each command
    line); library code never does. Returns a function that uninstalls it.
    """
    with _lock:
        _providers.append(provider)

    def uninstall() -> None:
        with _lock:
            if provider in _providers:
                _providers.remove(provider)
            _resolved.pop(id(provider), None)

    return uninstall


@contextmanager
def installed(provider: Provider) -> Iterator[None]:
    """:func:`install` for the duration of a ``with`` block."""
    uninstall = install(provider)
    try:
        yield
    finally:
        uninstall()


def has_provider() -> bool:
    """True when a checkpoint log is installed in this process (without reading its key)."""
    with _lock:
        return bool(_providers)


def active() -> CheckpointLog | None:
    """The installed log (the most recent installation), or None."""
    with _lock:
        if not _providers:
            return None
        provider = _providers[-1]
        key = id(provider)
        if key not in _resolved:
            _resolved[key] = provider()
        return _resolved[key]
