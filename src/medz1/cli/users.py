"""``medz1 users add | list | show | disable | enable | unlock | set-password | login |
delete | disable-dormant | upgrade-hashes``: clinician accounts.

Commands connect as the application role (``med_z1_user``), never as the owner or a
superuser, and every change writes its audit row in the same transaction. Passwords are
prompted for (hidden, typed twice) or read from stdin with ``--password-stdin``; they are
never taken from the command line, where ``ps`` and shell history would keep them.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medz1.auth import login as logins
from medz1.auth import sessions, users
from medz1.auth.config import AuthConfig, hasher_from_settings
from medz1.auth.records import UserRecord
from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.errors import CheckFailedError, UsageError
from medz1.provision.connect import engine_for_role

app = typer.Typer(
    help="Clinician accounts: add, list, show, disable, enable, unlock, set-password, login,\n    delete, upgrade-hashes.",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")
_STDIN_OPTION = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)
_USER_ARGUMENT = typer.Argument(..., help="The user's e-mail address or user id.")


def role_engine(role: str) -> Engine:
    """An engine of ``role`` (``app`` or ``auditor``) on the configured medz1 database."""
    settings = state.settings()
    return engine_for_role(target(settings), role, policy(settings).passwords)


@contextmanager
def role_session(role: str = "app") -> Iterator[Session]:
    """One transaction as ``role``, committed at the end; driver errors become typed ones."""
    engine = role_engine(role)
    try:
        with translated(), unit_of_work(engine) as session:
            yield session
    finally:
        engine.dispose()


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
    if not _interactive():
        raise UsageError(
            "no terminal to ask for the password on",
            hint="use --password-stdin: printf '%s\\n' \"$PW\" | medz1 ...",
        )
    try:
        return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))
    except typer.Abort as exc:
        raise UsageError(
            "no password was given (input ended or was interrupted)",
            hint="type it twice at the prompt, or use --password-stdin",
        ) from exc


def _interactive() -> bool:
    """True when stdin is a terminal, so a hidden prompt can be answered."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # closed or replaced streams
        return False


def _users_table(found: list[UserRecord]) -> Table:
    table = Table("email", "name", "station", "active", "locked", "last login (UTC)")
    for user in found:
        table.add_row(
            user.email,
            user.display_name,
            str(user.home_site_sta3n or "-"),
            "yes" if user.is_active else f"no ({user.disabled_reason or '-'})",
            "yes" if user.locked_at(now()) else "no",
            user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never",
        )
    return table


def _print_user(user: UserRecord, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(user.as_json())
    else:
        out.print(f"{verb}: {user.email} ({user.user_id})", markup=False)


@app.command()
def add(
    email: str = typer.Argument(..., help="Login e-mail address (stored in lower case)."),
    name: str = typer.Option(None, "--name", help="Display name (default: first and last)."),
    first: str = typer.Option(None, "--first", help="First name."),
    last: str = typer.Option(None, "--last", help="Last name."),
    station: int = typer.Option(None, "--station", help="Home VA station number (sta3n)."),
    password_stdin: bool = _STDIN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a user; the password is asked for twice (15 to 128 characters).

    Example: medz1 users add greg.house@va.gov --first Gregory --last House --station 508
    """
    new = users.NewUser(
        email=email, display_name=name, first_name=first, last_name=last, home_site_sta3n=station
    )
    password = read_password(password_stdin)
    hasher = hasher_from_settings(state.settings())
    with role_session() as session:
        user = users.create_user(
            session, user=new, password=password, hasher=hasher, now=now(), created_by=actor()
        )
    _print_user(user, as_json, "created")


@app.command("list")
def list_(
    active: bool | None = typer.Option(
        None, "--active/--disabled", help="Only active or disabled."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """List users by e-mail address.

    Example: medz1 users list --disabled
    """
    with role_session() as session:
        found = users.list_users(session, active=active, limit=100_000)
    if as_json:
        print_json([user.as_json() for user in found])
    else:
        out.print(_users_table(found))
        out.print(f"{len(found)} user(s)")


@app.command()
def show(user: str = _USER_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Show one user (never its password hash).

    Example: medz1 users show greg.house@va.gov --json
    """
    with role_session() as session:
        record = users.resolve_user(session, ident=user)
    if as_json:
        print_json(record.as_json())
        return
    for key, value in record.as_json().items():
        out.print(f"{key}: {'-' if value is None else value}", markup=False)


@app.command()
def disable(
    user: str = _USER_ARGUMENT,
    reason: str = typer.Option("administrator", "--reason", help="Why (kept on the user)."),
) -> None:
    """Disable a user and end all its sessions.

    Example: medz1 users disable greg.house@va.gov --reason "left the VA"
    """
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.disable_user(
            session, user_id=found.user_id, now=now(), reason=reason, actor=actor()
        )
    _print_user(record, False, "disabled")


@app.command()
def enable(user: str = _USER_ARGUMENT) -> None:
    """Enable a disabled user.

    Example: medz1 users enable greg.house@va.gov
    """
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.enable_user(session, user_id=found.user_id, now=now(), actor=actor())
    _print_user(record, False, "enabled")


@app.command()
def unlock(user: str = _USER_ARGUMENT) -> None:
    """Unlock a user locked by failed logins and reset its failure count.

    Example: medz1 users unlock greg.house@va.gov
    """
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.unlock_user(session, user_id=found.user_id, now=now(), actor=actor())
    _print_user(record, False, "unlocked")


@app.command("set-admin")
def set_admin(
    user: str = _USER_ARGUMENT,
    revoke: bool = typer.Option(False, "--revoke", help="Take the administrator role away."),
) -> None:
    """Make a user an administrator of the web service (users, sessions, audit log pages).

    Example: medz1 users set-admin greg.house@va.gov ; medz1 users set-admin X --revoke
    """
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        changed = users.set_admin(
            session, user_id=found.user_id, admin=not revoke, now=now(), actor=actor()
        )
    state_text = "no longer an administrator" if revoke else "an administrator"
    verb = "is now" if changed else "was already"
    out.print(f"{found.email} {verb} {state_text}", markup=False)


@app.command("set-password")
def set_password(user: str = _USER_ARGUMENT, password_stdin: bool = _STDIN_OPTION) -> None:
    """Set a user's password (asked for twice); all its sessions end.

    Example: medz1 users set-password greg.house@va.gov
    """
    password = read_password(password_stdin)
    hasher = hasher_from_settings(state.settings())
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.set_password(
            session,
            user_id=found.user_id,
            new_password=password,
            hasher=hasher,
            now=now(),
            actor=actor(),
        )
    _print_user(record, False, "password set")


@app.command("login")
def login(user: str = _USER_ARGUMENT) -> None:
    """Check that a user can log in with the password on stdin, and say why not.

    A real login attempt, audited like any other (a wrong password counts toward the
    lockout); the session a successful attempt opens is ended at once. The password is
    the first line of stdin, or asked for once on a terminal. Exit 0 when the login
    works, 5 when it does not (the reason is printed), 6 for an unknown user.

    Example: printf '%s\\n' "$PW" | medz1 users login greg.house@va.gov
    """
    password = _prompt_once() if _interactive() else read_password(True)
    settings = state.settings()
    config = AuthConfig.from_settings(settings)
    hasher = hasher_from_settings(settings)
    engine = role_engine("app")
    try:
        with translated():
            with unit_of_work(engine) as session:
                before = users.resolve_user(session, ident=user)
            at = now()
            outcome = logins.attempt(
                engine,
                email=before.email,
                password=password,
                ip=None,
                user_agent="medz1 users login",
                now=at,
                hasher=hasher,
                config=config,
            )
            if outcome.result is not None:
                with unit_of_work(engine) as session:
                    sessions.logout(session, token=outcome.result.token, now=now())
                out.print(f"login works: {before.email}", markup=False)
                return
            with unit_of_work(engine) as session:
                after = users.get_user(session, user_id=before.user_id)
    finally:
        engine.dispose()
    raise CheckFailedError(
        f"{before.email} cannot log in: {_why_not(before, after, at, config)}",
        hint="medz1 users show EMAIL for the account; unlock, enable or set-password to fix",
    )


def _prompt_once() -> str:
    try:
        return getpass.getpass("Password: ")
    except (EOFError, KeyboardInterrupt) as exc:
        raise UsageError("no password given", hint="type it, or pipe it on stdin") from exc


def _why_not(before: UserRecord, after: UserRecord, at: datetime, config: AuthConfig) -> str:
    """Why a login of ``before`` failed, from the account before and after the attempt."""
    if not before.is_active:
        reason = f" ({before.disabled_reason})" if before.disabled_reason else ""
        return f"the account is disabled{reason}"
    if before.locked_at(at):
        until = before.locked_until.isoformat() if before.locked_until else "an administrator"
        return f"the account is locked until {until}"
    if after.locked_at(at):
        until = after.locked_until.isoformat() if after.locked_until else "an administrator"
        return f"wrong password; the account is now locked until {until}"
    return (
        f"wrong password ({after.failed_login_attempts} failed attempt(s); "
        f"locked at {config.lockout_threshold})"
    )


@app.command()
def delete(
    user: str = _USER_ARGUMENT,
    yes: bool = typer.Option(False, "--yes", help="Confirm; deleting cannot be undone."),
) -> None:
    """Delete a user and its sessions; its audit rows stay.

    Example: medz1 users delete greg.house@va.gov --yes
    """
    if not yes:
        raise UsageError("deleting a user cannot be undone", hint="add --yes to confirm")
    with role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.delete_user(session, user_id=found.user_id, now=now(), actor=actor())
    _print_user(record, False, "deleted")


@app.command("disable-dormant")
def disable_dormant(as_json: bool = JSON_OPTION) -> None:
    """Disable users without a login for MEDZ1_DORMANT_DAYS (default 30); their sessions end.

    Run it daily (cron, systemd timer). Example: medz1 users disable-dormant
    """
    config = AuthConfig.from_settings(state.settings())
    with role_session() as session:
        disabled = users.disable_dormant(session, now=now(), config=config, actor=actor())
    if as_json:
        print_json([user.as_json() for user in disabled])
        return
    for record in disabled:
        out.print(f"disabled: {record.email}", markup=False)
    out.print(f"{len(disabled)} dormant user(s) disabled")


@app.command("upgrade-hashes")
def upgrade_hashes() -> None:
    """Wrap every legacy bcrypt password hash in argon2id; passwords keep working.

    Idempotent and audited (one password_rehashed row per user). Run it after importing
    med-z1 users. Example: medz1 users upgrade-hashes
    """
    hasher = hasher_from_settings(state.settings())
    with role_session() as session:
        count = users.upgrade_legacy_hashes(session, hasher=hasher, now=now(), actor=actor())
    out.print(f"{count} legacy hash(es) wrapped in argon2id")
