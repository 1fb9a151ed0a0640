"""The ``medz1`` command: a thin parser over ``medz1.ops``; the only place that prints and exits.

Every error ends as one line on stderr, ``error: <what happened> (hint: <what to do>)``,
and its documented exit code: medz1's own errors, click's usage errors (exit 2), input
that ended at a prompt (exit 2), Ctrl-C (exit 130) and errors medz1 did not expect
(exit 1); ``--traceback`` shows the stack as well. Python warnings print as one
``warning: ...`` line. Each command line gets its own :class:`~medz1.cli.common.CliContext`
as Typer's context object.

The command modules are imported here for their help texts; each imports SQLAlchemy,
psycopg, pyarrow and the rest only inside the commands that use them, so ``--version``
and ``--help`` stay fast (``bench/bench_startup.py``).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback as tb
import warnings
from typing import Any, NoReturn, TextIO

import typer
import typer.core

from medz1.cli import ai as ai_cmd
from medz1.cli import audit as audit_cmd
from medz1.cli import backup as backup_cmd
from medz1.cli import check as check_cmd
from medz1.cli import demo as demo_cmd
from medz1.cli import docs as docs_cmd
from medz1.cli import flags as flags_cmd
from medz1.cli import grants as grants_cmd
from medz1.cli import load as load_cmd
from medz1.cli import migrate as migrate_cmd
from medz1.cli import patients as patients_cmd
from medz1.cli import prefs as prefs_cmd
from medz1.cli import psql as psql_cmd
from medz1.cli import replica as replica_cmd
from medz1.cli import schema as schema_cmd
from medz1.cli import serve as serve_cmd
from medz1.cli import server as server_cmd
from medz1.cli import sessions as sessions_cmd
from medz1.cli import system_settings as settings_cmd
from medz1.cli import up as up_cmd
from medz1.cli import users as users_cmd
from medz1.cli.common import CliContext, cli_context
from medz1.errors import Medz1Error, UsageError

app = typer.Typer(
    name="medz1",
    help=(
        "medz1: the serving database of the med-z1 clinical viewer.\n\n"
        "With no MEDZ1_DATABASE_URL it runs a bundled PostgreSQL in MEDZ1_DATA_DIR "
        "(default: the nearest .medz1 folder here or above, else the per-user data folder). "
        "Start with `medz1 up`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from medz1 import __version__

        typer.echo(f"medz1 {__version__}")
        raise typer.Exit


@app.callback()
def main(
    ctx: typer.Context,
    traceback: bool = typer.Option(False, "--traceback", help="Show the stack trace of errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what medz1 does."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    state = cli_context(ctx)
    state.traceback = traceback
    state.verbose = verbose
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat(verbose=verbose))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


app.add_typer(server_cmd.app, name="server")
app.add_typer(migrate_cmd.app, name="migrate")
app.add_typer(schema_cmd.app, name="schema")
app.add_typer(docs_cmd.app, name="docs")
app.add_typer(demo_cmd.app, name="demo")
app.add_typer(backup_cmd.app, name="backup")
app.add_typer(users_cmd.app, name="users")
app.add_typer(sessions_cmd.app, name="sessions")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(patients_cmd.app, name="patients")
app.add_typer(grants_cmd.app, name="grants")
app.add_typer(replica_cmd.app, name="replica")
app.add_typer(flags_cmd.app, name="flags")
app.add_typer(settings_cmd.app, name="settings")
app.add_typer(prefs_cmd.app, name="prefs")
app.add_typer(ai_cmd.app, name="ai")
app.command("up")(up_cmd.up)
app.command("down")(up_cmd.down)
app.command("check")(check_cmd.check)
app.command("psql")(psql_cmd.psql)
app.command("load")(load_cmd.load_command)
app.command("serve")(serve_cmd.serve)


#: The click that Typer runs on (recent Typer versions carry their own copy), for its
#: usage errors (``typer.Abort`` is Typer's own name for click's ``Abort``).
_click: Any = getattr(typer.core, "_click", None) or importlib.import_module("click")
_UsageError: type[Exception] = _click.exceptions.UsageError
_NoArgsIsHelpError: type[Exception] = getattr(
    _click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {})
)
_ClickException: type[Exception] = _click.exceptions.ClickException

#: Exit code of a command line interrupted by Ctrl-C (128 + SIGINT, as shells report it).
_INTERRUPTED = 130

#: Longest part of an unexpected error's own text that is printed.
_MAX_UNEXPECTED_TEXT = 200


def describe_unexpected(exc: BaseException) -> str:
    """One line naming an error medz1 did not expect: its type and first line only.

    SQLAlchemy's ``str()`` appends the SQL, the bound parameters and a link, and a server
    error's text goes on with DETAIL lines (``Key (ssn)=(...)``): the line is built from
    the wrapped driver error's type, SQLSTATE and primary message (PostgreSQL's
    ``message_primary``, which never holds DETAIL, HINT or CONTEXT), never from ``str()`` of
    a SQLAlchemy error.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    psycopg = sys.modules.get("psycopg")
    original: object = exc
    if sa_exc is not None and isinstance(exc, sa_exc.StatementError):
        original = exc.orig
    if not isinstance(original, BaseException):
        return type(exc).__name__
    if psycopg is not None and isinstance(original, psycopg.Error):
        code = original.sqlstate
        text = original.diag.message_primary or ""
        name = f"{type(original).__name__} (SQLSTATE {code})" if code else type(original).__name__
    elif sa_exc is not None and isinstance(original, sa_exc.SQLAlchemyError):
        # Only the class: SQLAlchemy's text may quote statements and values.
        return type(original).__name__
    else:
        text = str(original)
        name = type(original).__name__
    lines = text.strip().splitlines()
    first = lines[0][:_MAX_UNEXPECTED_TEXT] if lines else ""
    return f"{name}: {first}" if first else name


def _driver_error(exc: BaseException) -> Medz1Error | bool | None:
    """The typed error of a driver error by SQLSTATE; None untranslated; False: not one."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    psycopg = sys.modules.get("psycopg")
    is_driver = (sa_exc is not None and isinstance(exc, sa_exc.DBAPIError)) or (
        psycopg is not None and isinstance(exc, psycopg.Error)
    )
    if not is_driver:
        return False
    from medz1.db.errors import translate

    return translate(exc)


def _undecodable_argument(exc: BaseException) -> bool:
    """True for an encoding error on text holding surrogate escapes: what Python makes of
    command-line bytes that are not UTF-8, refused when sent to the database as text."""
    for error in (exc, getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        if isinstance(error, UnicodeEncodeError):
            bad = error.object[error.start : error.end]
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in bad):
                return True
    return False


def _usage_hint(exc: Any, args: list[str]) -> str:
    """``see `medz1 <command> --help``` for the deepest command the arguments name."""
    ctx = getattr(exc, "ctx", None)
    from_ctx = ctx.command_path if ctx is not None else "medz1"
    words = ["medz1"]
    command: Any = typer.main.get_command(app)
    for arg in args:
        if arg.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        words.append(arg)
        command = sub
    from_args = " ".join(words)
    return f"see `{max(from_ctx, from_args, key=len)} --help`"


def _usage_text(exc: Any) -> str:
    message = str(exc.format_message()).strip().rstrip(".")
    return message[:1].lower() + message[1:] if message[:1].isupper() else message


def _warning_printer(state: CliContext) -> Any:
    """A ``warnings.showwarning`` that prints one ``warning: ...`` line, never source code;
    with ``--traceback`` it names the file and line the warning came from."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        del file, line
        text = str(message).strip().splitlines()
        first = text[0][:_MAX_UNEXPECTED_TEXT] if text else category.__name__
        where = (
            f"; from {filename}:{lineno}"
            if state.traceback
            else "; hint: rerun with --traceback to see where it comes from"
        )
        state.err.print(f"warning: {first} ({category.__name__}{where})", markup=False)

    return show


class _LogFormat(logging.Formatter):
    """Log records as ``warning: <message>`` (``--verbose`` adds the logger's name)."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self._verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        """One line: the level in lower case, the message."""
        name = f" {record.name}" if self._verbose else ""
        return f"{record.levelname.lower()}{name}: {record.getMessage()}"


def warn_unknown_variables(state: CliContext) -> None:
    """One warning per ``MEDZ1_*`` variable medz1 does not read, naming the nearest one."""
    from medz1.settings import unknown_variables

    for name, nearest in unknown_variables():
        hint = f"did you mean {nearest}?" if nearest else "see the README's settings table"
        state.err.print(
            f"warning: {name} is not a medz1 setting and is ignored (hint: {hint})",
            markup=False,
        )


def run(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the command, turn errors into exit codes.

    Builds the command line's :class:`CliContext` (Typer's ``ctx.obj``); medz1's own errors
    become one line on stderr and their exit code; click's usage errors become the same
    line and exit 2; a driver error that reached this boundary untranslated is translated
    here by SQLSTATE; anything else prints only :func:`describe_unexpected` and exits 1.
    """
    state = CliContext()
    saved_showwarning = warnings.showwarning
    warnings.showwarning = _warning_printer(state)
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        if not {"--version", "--help", "-h"} & set(args) and args:
            warn_unknown_variables(state)
        code = app(args=args, prog_name="medz1", standalone_mode=False, obj=state)
    except _NoArgsIsHelpError as exc:
        ctx = getattr(exc, "ctx", None)
        state.out.print(ctx.get_help() if ctx is not None else "", markup=False)
        _exit(state, 2)
    except _UsageError as exc:
        _print_error(state, f"{_usage_text(exc)} (hint: {_usage_hint(exc, args)})")
        _exit(state, 2)
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            _print_error(state, "interrupted (hint: run the command again to finish it)")
            _exit(state, _INTERRUPTED)
        _print_error(
            state,
            "input ended before the command had all its answers (hint: give them as "
            "options, or run it in a terminal)",
        )
        _exit(state, 2)
    except _ClickException as exc:
        _print_error(state, f"{_usage_text(exc)} (hint: see `medz1 --help`)")
        _exit(state, int(getattr(exc, "exit_code", 1)))
    except Medz1Error as exc:
        _fail(state, exc)
    except Exception as exc:  # noqa: BLE001 - the outermost boundary: one line, not a stack
        if _undecodable_argument(exc):
            _fail(
                state,
                UsageError(
                    "an argument holds bytes that are not UTF-8 text (the shell passed them "
                    "undecoded), so it cannot be sent to the database",
                    hint="pass the value as UTF-8 text",
                ),
            )
        mapped = _driver_error(exc)
        if isinstance(mapped, Medz1Error):
            _fail(state, mapped)
        _unexpected(state, exc)
    finally:
        warnings.showwarning = saved_showwarning
    if code == _INTERRUPTED:  # Typer turns Ctrl-C into this code, silently
        _print_error(state, "interrupted (hint: run the command again to finish it)")
    _exit(state, code if isinstance(code, int) else 0)


def _exit(state: CliContext, code: int) -> NoReturn:
    state.close()
    sys.exit(code)


def _print_error(state: CliContext, line: str) -> None:
    if state.traceback and sys.exc_info()[0] is not None:
        state.err.print(tb.format_exc(), markup=False)
    state.err.print(f"error: {line}", markup=False)


def _fail(state: CliContext, exc: Medz1Error) -> NoReturn:
    _print_error(state, str(exc))
    _exit(state, exc.exit_code)


def _unexpected(state: CliContext, exc: BaseException) -> NoReturn:
    _print_error(
        state,
        f"unexpected {describe_unexpected(exc)} (hint: rerun with --traceback and report it)",
    )
    _exit(state, 1)
