"""What every command module shares: the context object, consoles, options and output.

A command reaches everything through Typer's context object (``ctx.obj``, a
:class:`CliContext` that :func:`medz1.cli.main.run` builds for each command line), never
through module-level state::

    def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        c = cli_context(ctx)
        with c.role_session() as session:
            ...
        c.table(COLUMNS, rows, as_json=as_json, records=[...])

This module imports only what ``medz1 --help`` needs (typer, rich): SQLAlchemy, psycopg,
pyarrow, numpy and the models are imported inside the helpers that use them, so each
command loads only what it runs.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.console import Console

from medz1.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from medz1.db.target import Target
    from medz1.embedded import EmbeddedServer
    from medz1.ops.schema_info import SchemaSummary
    from medz1.provision.credentials import RolePlan
    from medz1.settings import Settings

#: ``--json`` of every command that produces a result.
JSON_OPTION: Any = typer.Option(False, "--json", help="Print JSON for scripts.")
#: ``--password-stdin`` of the commands that take a new password.
PASSWORD_STDIN_OPTION: Any = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)
#: The USER argument: every command that names a user takes an e-mail or a user id.
USER_ARGUMENT: Any = typer.Argument(..., help="The user's e-mail address or user id.")


def _check_station(value: str | list[str] | None) -> str | list[str] | None:
    """Typer callback of every ``--station``: a VA station number or nothing (exit 2)."""
    if value is None:
        return None
    from medz1.dal.session import check_station

    if isinstance(value, list):
        return [check_station(v) for v in value]
    return check_station(value)


def station_option(help_text: str, *, default: Any = None) -> Any:
    """The ``--station`` option: a station number (sta3n, optionally with a division
    suffix: 508, 508A4), checked the same way by every command before anything runs."""
    return typer.Option(default, "--station", callback=_check_station, help=help_text)


#: The words every command prints first when it had nothing to change.
NOTHING_TO_DO = "nothing to do"


def _console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Col:
    """One column of a listing.

    Attributes:
        name: The header (also the TSV header).
        key: An identifier, e-mail, id or table name: never cut, never wrapped.
        drop: 0 for a column that is always shown; otherwise the column may be left out of
            a terminal that is too narrow, higher numbers first. Pipes and ``--json`` get
            every column.
        justify: Alignment in a terminal.
    """

    name: str
    key: bool = False
    drop: int = 0
    justify: Literal["left", "right", "center"] = "left"


@dataclass
class CliContext:
    """The state of one command line, shared with its subcommands as ``ctx.obj``.

    Built by :func:`medz1.cli.main.run` for every command line (so nothing leaks from one
    run to the next in the same process); the global options fill in ``traceback`` and
    ``verbose``. Settings are read from the environment once, on first use.
    """

    traceback: bool = False
    verbose: bool = False
    out: Console = field(default_factory=_console)
    err: Console = field(default_factory=lambda: _console(stderr=True))
    _settings: Settings | None = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    # -- configuration and targets ------------------------------------------------------

    def settings(self) -> Settings:
        """The validated settings, read once from the environment.

        Raises:
            ConfigurationError: a ``MEDZ1_*`` variable is invalid (named, value never shown).
        """
        if self._settings is None:
            from medz1.settings import load_settings

            self._settings = load_settings()
        return self._settings

    def server(self) -> EmbeddedServer:
        """The embedded server of the data directory.

        Raises:
            ServerError: ``MEDZ1_DATABASE_URL`` is set, so medz1 runs no server of its own.
        """
        from medz1.embedded import EmbeddedServer
        from medz1.errors import ServerError

        settings = self.settings()
        if not settings.embedded:
            raise ServerError(
                "MEDZ1_DATABASE_URL is set, so medz1 uses that server and runs none of its own",
                hint="unset MEDZ1_DATABASE_URL to use the embedded server",
            )
        return EmbeddedServer(
            settings.data_dir, port=settings.port, start_timeout=settings.start_timeout
        )

    def target(self, *, start: bool = False) -> Target:
        """The administrator target of the medz1 database; starts the embedded server if asked.

        Installs the audit checkpoint log of the data directory first (S19), so every audit
        row the command commits gets its signed checkpoint.

        Raises:
            ServerError: the embedded server is not running (the message names the data
                directory) and ``start`` is False, or it cannot start.
        """
        from medz1.db.target import Target
        from medz1.embedded import SUPERUSER

        self.install_checkpoints()
        settings = self.settings()
        reporting = settings.reporting_target_url()
        if not settings.embedded:
            return Target(url=settings.external_url(), embedded=False, reporting_url=reporting)
        embedded = self.server()
        if start:
            embedded.start()
        return Target(
            url=embedded.url(settings.database_name, user=SUPERUSER),
            embedded=True,
            reporting_url=reporting,
        )

    def reporting_target(self) -> Target:
        """Where reporting reads go: the standby named by MEDZ1_REPORTING_STANDBY, else ``target``.

        Raises:
            ConfigurationError: MEDZ1_REPORTING_STANDBY is set with an external server.
        """
        from medz1.errors import ConfigurationError
        from medz1.ops.replica import reporting_target as standby_target

        settings = self.settings()
        if settings.reporting_standby is None:
            return self.target()
        if not settings.embedded:
            raise ConfigurationError(
                "MEDZ1_REPORTING_STANDBY names a standby of the bundled server, but "
                "MEDZ1_DATABASE_URL names another server",
                hint="unset one of them",
            )
        self.install_checkpoints()
        return standby_target(self.server(), settings.reporting_standby, settings.database_name)

    def admin_engine(self, *, start: bool = False) -> tuple[Target, Engine]:
        """Target and an administrator engine on the medz1 database (dispose it after use)."""
        from medz1.db.engine import make_engine

        where = self.target(start=start)
        return where, make_engine(where.url)

    def role_plan(self, *, generate_passwords: bool = False) -> RolePlan:
        """The declared roles, limits and grant matrix, with the passwords medz1 knows."""
        from medz1.provision.credentials import role_plan_from_settings

        return role_plan_from_settings(self.settings(), generate_passwords=generate_passwords)

    def role_engine(self, role: str) -> Engine:
        """An engine of ``role`` (``app``, ``auditor``, ``loader``...) on the medz1 database."""
        from medz1.provision.connect import engine_for_role

        return engine_for_role(self.target(), role, self.role_plan().passwords)

    @contextmanager
    def role_session(self, role: str = "app") -> Iterator[Session]:
        """One transaction as ``role``, committed at the end; driver errors become typed ones."""
        from medz1.db.engine import unit_of_work
        from medz1.db.errors import translated

        engine = self.role_engine(role)
        try:
            with translated(), unit_of_work(engine) as session:
                yield session
        finally:
            engine.dispose()

    def install_checkpoints(self) -> None:
        """Checkpoint the audit rows this process commits to the data directory's signed log
        (S19); the key is read at the first commit that wrote audit rows. Idempotent."""
        if self._closers:
            return
        from medz1.auth import checkpoints

        def provider() -> checkpoints.CheckpointLog | None:
            settings = self.settings()
            return checkpoints.log_for(settings.data_path, settings.audit_key, create_key=True)

        self._closers.append(checkpoints.install(provider))

    def close(self) -> None:
        """Undo what the command line installed (the checkpoint provider)."""
        while self._closers:
            self._closers.pop()()

    # -- output --------------------------------------------------------------------------

    def print(self, text: str) -> None:
        """One line of plain text on stdout (never read as rich markup)."""
        self.out.print(text, markup=False, highlight=False)

    def note(self, text: str) -> None:
        """A remark about the result (a count, a next step): on stdout in a terminal, on
        stderr when stdout is data for a script (piped, or ``--json``)."""
        console = self.out if self.out.is_terminal else self.err
        console.print(text, markup=False, highlight=False)

    def nothing_to_do(self, why: str) -> None:
        """The one wording of every command that had nothing to change."""
        self.print(f"{NOTHING_TO_DO}: {why}")

    def print_fields(self, fields: Mapping[str, Any]) -> None:
        """One ``key: value`` line per field of a record (``-`` for a missing value)."""
        for key, value in fields.items():
            self.print(f"{key}: {'-' if value is None else value}")

    def print_json(self, data: Any) -> None:
        """``data`` as indented JSON on stdout (``--json``)."""
        self.out.print_json(json.dumps(data, default=str), highlight=False)

    def table(
        self,
        columns: Sequence[Col],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
    ) -> None:
        """A listing: a rich table in a terminal, tab-separated lines anywhere else.

        In a terminal, identifier columns (:attr:`Col.key`) keep their whole width and are
        never wrapped or cut; when the terminal is too narrow for them and the rest,
        droppable columns are left out (highest :attr:`Col.drop` first), and when the rest
        is still wider than the terminal every row is printed one field per
        line (psql's expanded display), each value whole. Piped or redirected, every
        column is printed as tab-separated text with a header line (tabs, line breaks and
        backslashes in a cell escaped as ``\\t``, ``\\n``, ``\\\\``, as PostgreSQL's COPY
        text format does).
        """
        if not self.out.is_terminal:
            stream = self.out.file
            stream.write("\t".join(c.name for c in columns) + "\n")
            for row in rows:
                stream.write("\t".join(_tsv(cell) for cell in row) + "\n")
            stream.flush()
            return
        from rich.table import Column, Table
        from rich.text import Text

        shown = _fit(columns, rows, self.out.width)
        if _need(columns, rows, shown) > self.out.width:
            # Even without the droppable columns the identifiers would not fit whole: one
            # field per line (psql's expanded display), each value whole on its line.
            label = max(len(c.name) for c in columns)
            for number, row in enumerate(rows, start=1):
                self.print(f"-[ RECORD {number} ]" + "-" * max(0, label - 11))
                for col, cell in zip(columns, row, strict=True):
                    self.print(f"{col.name.ljust(label)} | {cell}")
            return
        table = Table(
            *(
                Column(
                    columns[i].name,
                    no_wrap=columns[i].key,
                    overflow="fold",
                    justify=columns[i].justify,
                    min_width=_longest(columns[i], rows, i) if columns[i].key else None,
                )
                for i in shown
            ),
            title=title,
            title_justify="left",
        )
        for row in rows:
            table.add_row(*(Text(str(row[i])) for i in shown))
        self.out.print(table, markup=False)
        left_out = [columns[i].name for i in range(len(columns)) if i not in shown]
        if left_out:
            self.err.print(
                "(left out to fit the terminal: " + ", ".join(left_out) + "; widen it, pipe "
                "the output or use --json to see them)",
                markup=False,
            )


def cli_context(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` of this command line (a fresh one when run without ``run``)."""
    found = ctx.find_object(CliContext)
    if found is None:
        found = CliContext()
        ctx.find_root().obj = found
    return found


def _tsv(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _longest(column: Col, rows: Sequence[Sequence[str]], index: int) -> int:
    cells = [len(line) for row in rows for line in str(row[index]).splitlines() or [""]]
    return max([len(column.name), *cells])


#: Width a rich table spends per column (padding and border) beyond its text.
_PER_COLUMN = 3


def _need(columns: Sequence[Col], rows: Sequence[Sequence[str]], indexes: list[int]) -> int:
    """Width a table of the ``indexes`` columns needs (key columns whole, others 12)."""
    total = 1
    for i in indexes:
        longest = _longest(columns[i], rows, i)
        total += _PER_COLUMN + (longest if columns[i].key else min(longest, 12))
    return total


def _fit(columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Indexes of the columns to show in ``width`` characters (key columns whole)."""
    shown = list(range(len(columns)))
    droppable = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop)
    for i in droppable:
        if _need(columns, rows, shown) <= width:
            break
        shown.remove(i)
    return shown


def actor() -> str:
    """Who runs the command, for audit rows: ``cli:<OS user>``."""
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except (OSError, KeyError):
        return "cli"


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def read_password(from_stdin: bool) -> str:
    """A new password: the first line of stdin, or asked for twice without echo.

    Raises:
        UsageError: stdin is empty or unreadable, or there is no terminal to prompt on
            (a script or a pipe: the hint names ``--password-stdin``).
    """
    if from_stdin:
        try:
            line = sys.stdin.readline() if sys.stdin is not None else ""
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise UsageError(
                "cannot read the password from stdin",
                hint="pipe it in as UTF-8 text: printf '%s\\n' \"$PW\" | medz1 ...",
            ) from exc
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise UsageError(
                "no password on stdin", hint="pipe it in: printf '%s\\n' \"$PW\" | medz1 ..."
            )
        return password
    if not interactive():
        raise UsageError(
            "no terminal to ask for the password on",
            hint="use --password-stdin: printf '%s\\n' \"$PW\" | medz1 ...",
        )
    try:
        return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))
    except (typer.Abort, EOFError) as exc:
        raise UsageError(
            "no password was given (input ended or was interrupted)",
            hint="type it twice at the prompt, or use --password-stdin",
        ) from exc


def interactive() -> bool:
    """True when stdin is a terminal, so a hidden prompt can be answered."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # closed or replaced streams
        return False


def human_size(size: int) -> str:
    """Bytes as a short human-readable size (kB, MB, GB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


#: Columns of a schema summary (``up``, ``schema list``).
SCHEMA_COLUMNS = (
    Col("schema", key=True),
    Col("tables", justify="right"),
    Col("est. rows", justify="right"),
    Col("size", justify="right"),
)


def schema_rows(schemas: Sequence[SchemaSummary]) -> list[list[str]]:
    """Rows of :data:`SCHEMA_COLUMNS`."""
    return [
        [s.name, str(s.tables), f"{s.estimated_rows:,}", human_size(s.size_bytes)] for s in schemas
    ]
