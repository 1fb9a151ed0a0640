"""The ``medz1`` command: a thin parser over ``medz1.ops``; the only place that prints and exits.

Every error that medz1 raises on purpose ends as one line on stderr,
``error: <what happened> (hint: <what to do>)``, and a non-zero exit code; ``--traceback``
shows the stack as well.
"""

from __future__ import annotations

import logging
import sys
import traceback as tb
from typing import NoReturn

import psycopg
import typer
from sqlalchemy import exc as sa_exc

from medz1 import __version__
from medz1.auth import checkpoints
from medz1.cli import ai as ai_cmd
from medz1.cli import audit as audit_cmd
from medz1.cli import backup as backup_cmd
from medz1.cli import check as check_cmd
from medz1.cli import demo as demo_cmd
from medz1.cli import docs as docs_cmd
from medz1.cli import grants as grants_cmd
from medz1.cli import load as load_cmd
from medz1.cli import migrate as migrate_cmd
from medz1.cli import patients as patients_cmd
from medz1.cli import psql as psql_cmd
from medz1.cli import schema as schema_cmd
from medz1.cli import serve as serve_cmd
from medz1.cli import server as server_cmd
from medz1.cli import sessions as sessions_cmd
from medz1.cli import up as up_cmd
from medz1.cli import users as users_cmd
from medz1.cli.console import err
from medz1.cli.context import state
from medz1.db.errors import translate
from medz1.errors import Medz1Error

app = typer.Typer(
    name="medz1",
    help=(
        "medz1: the serving database of the med-z1 clinical viewer.\n\n"
        "With no MEDZ1_DATABASE_URL it runs a bundled PostgreSQL in MEDZ1_DATA_DIR "
        "(default ./.medz1). Start with `medz1 up`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medz1 {__version__}")
        raise typer.Exit


@app.callback()
def main(
    traceback: bool = typer.Option(False, "--traceback", help="Show the stack trace of errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what medz1 does."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    state.traceback = traceback
    state.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


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
app.add_typer(ai_cmd.app, name="ai")
app.command("up")(up_cmd.up)
app.command("down")(up_cmd.down)
app.command("check")(check_cmd.check)
app.command("psql")(psql_cmd.psql)
app.command("load")(load_cmd.load_command)
app.command("serve")(serve_cmd.serve)


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
    original = exc.orig if isinstance(exc, sa_exc.StatementError) else exc
    if not isinstance(original, BaseException):
        return type(exc).__name__
    if isinstance(original, psycopg.Error):
        code = original.sqlstate
        text = original.diag.message_primary or ""
        name = f"{type(original).__name__} (SQLSTATE {code})" if code else type(original).__name__
    elif isinstance(original, sa_exc.SQLAlchemyError):
        # Only the class: SQLAlchemy's text may quote statements and values.
        return type(original).__name__
    else:
        text = str(original)
        name = type(original).__name__
    lines = text.strip().splitlines()
    first = lines[0][:_MAX_UNEXPECTED_TEXT] if lines else ""
    return f"{name}: {first}" if first else name


def run(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the command, turn errors into exit codes.

    Usage errors and ``typer.Exit`` are handled by Typer itself (exit 2 and the given
    code); medz1's own errors become one line on stderr and their exit code. A driver
    error that reached this boundary untranslated is translated here by SQLSTATE; anything
    else prints only :func:`describe_unexpected` and exits 1.
    """
    state.reset()
    # Every audit row a command commits gets a signed checkpoint outside the database (S19).
    uninstall = checkpoints.install(
        lambda: checkpoints.log_for(
            state.settings().data_path, state.settings().audit_key, create_key=True
        )
    )
    try:
        app(args=argv, prog_name="medz1")
    except Medz1Error as exc:
        _fail(exc)
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        mapped = translate(exc)
        if mapped is None:
            _unexpected(exc)
        else:
            _fail(mapped)
    except Exception as exc:  # noqa: BLE001 - the outermost boundary: one line, not a stack
        _unexpected(exc)
    finally:
        uninstall()


def _fail(exc: Medz1Error) -> NoReturn:
    if state.traceback:
        err.print(tb.format_exc(), markup=False)
    err.print(f"error: {exc}", markup=False)
    sys.exit(exc.exit_code)


def _unexpected(exc: BaseException) -> NoReturn:
    if state.traceback:
        err.print(tb.format_exc(), markup=False)
    err.print(
        f"error: unexpected {describe_unexpected(exc)} "
        "(hint: rerun with --traceback and report it)",
        markup=False,
    )
    sys.exit(1)
