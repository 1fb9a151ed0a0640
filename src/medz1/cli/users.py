"""``medz1 users add | list | show | disable | enable | unlock | set-password | delete |
disable-dormant | upgrade-hashes``: clinician accounts.

Commands connect as the application role (``med_z1_user``), never as the owner or a
superuser, and every change writes its audit row in the same transaction. Passwords are
prompted for (hidden, typed twice) or read from stdin with ``--password-stdin``; they are
never taken from the command line, where ``ps`` and shell history would keep them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import (
    JSON_OPTION,
    PASSWORD_STDIN_OPTION,
    USER_ARGUMENT,
    CliContext,
    Col,
    actor,
    cli_context,
    interactive,
    now,
    read_password,
    station_option,
)
from medz1.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from medz1.auth.config import AuthConfig
    from medz1.auth.records import UserRecord

app = typer.Typer(
    help="Clinician accounts: add, list, show, disable, enable, unlock, set-password, login,\n    delete, upgrade-hashes.",
    no_args_is_help=True,
)

#: Columns of ``users list``: the e-mail is never cut; the name goes first when narrow.
USER_COLUMNS = (
    Col("email", key=True),
    Col("name", drop=3),
    Col("station", drop=1),
    Col("active"),
    Col("locked"),
    Col("last login (UTC)", drop=2),
)


def _user_row(user: UserRecord) -> list[str]:
    return [
        user.email,
        user.display_name,
        str(user.home_site_sta3n or "-"),
        "yes" if user.is_active else f"no ({user.disabled_reason or '-'})",
        "yes" if user.locked_at(now()) else "no",
        user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never",
    ]


def _print_user(c: CliContext, user: UserRecord, as_json: bool, verb: str) -> None:
    if as_json:
        c.print_json(user.as_json())
    else:
        c.print(f"{verb}: {user.email} ({user.user_id})")


def _print_change(
    c: CliContext, user: UserRecord, as_json: bool, verb: str, *, changed: bool
) -> None:
    """The result of a switch (disable, enable, unlock): ``nothing to do`` when the user
    was already so (and no audit row was written)."""
    if as_json:
        c.print_json({**user.as_json(), "changed": changed})
    elif changed:
        c.print(f"{verb}: {user.email} ({user.user_id})")
    else:
        c.nothing_to_do(f"{user.email} is already {verb}")


def _home_station(station: str | None) -> int | None:
    """The sta3n of ``--station``: a user's home is a facility, so a division is refused.

    ``--station`` takes every station number the other commands take (508, 508A4); a
    division suffix names a division of facility 508, and a user's home station is the
    facility itself (``auth.users.home_site_sta3n`` is the integer sta3n, as VistA's
    ``Sta3n``).

    Raises:
        UsageError: ``station`` has a division suffix (the hint names its facility).
    """
    if station is None:
        return None
    if not station.isdigit():
        raise UsageError(
            f"a user's home station is a facility's 3-digit sta3n, not the division {station}",
            hint=f"give --station {station[:3]} (the facility of division {station})",
        )
    return int(station)


@app.command()
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Login e-mail address (stored in lower case)."),
    name: str = typer.Option(None, "--name", help="Display name (default: first and last)."),
    first: str = typer.Option(None, "--first", help="First name."),
    last: str = typer.Option(None, "--last", help="Last name."),
    station: str = station_option(
        "Home VA station: the facility's 3-digit sta3n (508), not a division (508A4)."
    ),
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a user; the password is asked for twice (15 to 128 characters).

    Example: medz1 users add greg.house@va.gov --first Gregory --last House --station 508
    """
    from medz1.auth import users
    from medz1.auth.config import hasher_from_settings

    c = cli_context(ctx)
    new = users.NewUser(
        email=email,
        display_name=name,
        first_name=first,
        last_name=last,
        home_site_sta3n=_home_station(station),
    )
    hasher = hasher_from_settings(c.settings())  # bad MEDZ1_ARGON2_* refused before asking
    password = read_password(password_stdin)
    with c.role_session() as session:
        user = users.create_user(
            session, user=new, password=password, hasher=hasher, now=now(), created_by=actor()
        )
    _print_user(c, user, as_json, "created")


@app.command("list")
def list_(
    ctx: typer.Context,
    active: bool | None = typer.Option(
        None, "--active/--disabled", help="Only active or disabled."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """List users by e-mail address (tab-separated when piped; e-mails are never cut).

    Example: medz1 users list --disabled
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.list_users(session, active=active, limit=100_000)
    if as_json:
        c.print_json([user.as_json() for user in found])
        return
    c.table(USER_COLUMNS, [_user_row(user) for user in found])
    c.note(f"{len(found)} user(s)")


@app.command()
def show(ctx: typer.Context, user: str = USER_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Show one user (never its password hash).

    Example: medz1 users show greg.house@va.gov --json
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        record = users.resolve_user(session, ident=user)
    if as_json:
        c.print_json(record.as_json())
        return
    c.print_fields(record.as_json())


@app.command()
def disable(
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    reason: str = typer.Option("administrator", "--reason", help="Why (kept on the user)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Disable a user and end all its sessions.

    Example: medz1 users disable greg.house@va.gov --reason "left the VA"
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.disable_user(
            session, user_id=found.user_id, now=now(), reason=reason, actor=actor()
        )
    _print_change(c, record, as_json, "disabled", changed=found.is_active)


@app.command()
def enable(ctx: typer.Context, user: str = USER_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Enable a disabled user.

    Example: medz1 users enable greg.house@va.gov
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.enable_user(session, user_id=found.user_id, now=now(), actor=actor())
    _print_change(c, record, as_json, "enabled", changed=not found.is_active)


@app.command()
def unlock(ctx: typer.Context, user: str = USER_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Unlock a user locked by failed logins and reset its failure count.

    Example: medz1 users unlock greg.house@va.gov
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.unlock_user(session, user_id=found.user_id, now=now(), actor=actor())
    changed = found.is_locked or found.failed_login_attempts > 0
    _print_change(c, record, as_json, "unlocked", changed=changed)


@app.command("set-admin")
def set_admin(
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    revoke: bool = typer.Option(False, "--revoke", help="Take the administrator role away."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a user an administrator of the web service (users, sessions, audit log pages).

    Example: medz1 users set-admin greg.house@va.gov ; medz1 users set-admin X --revoke
    """
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        changed = users.set_admin(
            session, user_id=found.user_id, admin=not revoke, now=now(), actor=actor()
        )
    if as_json:
        c.print_json({"email": found.email, "admin": not revoke, "changed": changed})
        return
    state_text = "no longer an administrator" if revoke else "an administrator"
    if changed:
        c.print(f"{found.email} is now {state_text}")
    else:
        c.nothing_to_do(f"{found.email} was already {state_text}")


@app.command("set-password")
def set_password(
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    password_stdin: bool = PASSWORD_STDIN_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Set a user's password (asked for twice); all its sessions end.

    Example: medz1 users set-password greg.house@va.gov
    """
    from medz1.auth import users
    from medz1.auth.config import hasher_from_settings

    c = cli_context(ctx)
    hasher = hasher_from_settings(c.settings())  # bad MEDZ1_ARGON2_* refused before asking
    password = read_password(password_stdin)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.set_password(
            session,
            user_id=found.user_id,
            new_password=password,
            hasher=hasher,
            now=now(),
            actor=actor(),
        )
    _print_user(c, record, as_json, "password set")


@app.command("login")
def login(ctx: typer.Context, user: str = USER_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Check that a user can log in with the password on stdin, and say why not.

    A real login attempt, audited like any other (a wrong password counts toward the
    lockout); the session a successful attempt opens is ended at once. The password is
    the first line of stdin, or asked for once on a terminal. Exit 0 when the login
    works, 5 when it does not (the reason is printed), 6 for an unknown user.

    Example: printf '%s\\n' "$PW" | medz1 users login greg.house@va.gov
    """
    from medz1.auth import login as logins
    from medz1.auth import sessions, users
    from medz1.auth.config import AuthConfig, hasher_from_settings
    from medz1.db.engine import unit_of_work
    from medz1.db.errors import translated
    from medz1.errors import CheckFailedError

    c = cli_context(ctx)
    settings = c.settings()
    config = AuthConfig.from_settings(settings)
    hasher = hasher_from_settings(settings)  # bad MEDZ1_ARGON2_* refused before asking
    password = _prompt_once() if interactive() else read_password(True)
    engine = c.role_engine("app")
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
                if as_json:
                    c.print_json({"email": before.email, "works": True, "why_not": None})
                else:
                    c.print(f"login works: {before.email}")
                return
            with unit_of_work(engine) as session:
                after = users.get_user(session, user_id=before.user_id)
    finally:
        engine.dispose()
    why = _why_not(before, after, at, config)
    if as_json:
        c.print_json({"email": before.email, "works": False, "why_not": why})
    raise CheckFailedError(
        f"{before.email} cannot log in: {why}",
        hint="medz1 users show EMAIL for the account; unlock, enable or set-password to fix",
    )


def _prompt_once() -> str:
    import getpass

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
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    yes: bool = typer.Option(False, "--yes", help="Confirm; deleting cannot be undone."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a user and its sessions; its audit rows stay.

    Example: medz1 users delete greg.house@va.gov --yes
    """
    from medz1.auth import users

    if not yes:
        raise UsageError("deleting a user cannot be undone", hint="add --yes to confirm")
    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        record = users.delete_user(session, user_id=found.user_id, now=now(), actor=actor())
    _print_user(c, record, as_json, "deleted")


@app.command("disable-dormant")
def disable_dormant(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Disable users without a login for MEDZ1_DORMANT_DAYS (default 30); their sessions end.

    Run it daily (cron, systemd timer). Example: medz1 users disable-dormant
    """
    from medz1.auth import users
    from medz1.auth.config import AuthConfig

    c = cli_context(ctx)
    config = AuthConfig.from_settings(c.settings())
    with c.role_session() as session:
        disabled = users.disable_dormant(session, now=now(), config=config, actor=actor())
    if as_json:
        c.print_json([user.as_json() for user in disabled])
        return
    for record in disabled:
        c.print(f"disabled: {record.email}")
    if disabled:
        c.print(f"{len(disabled)} dormant user(s) disabled")
    else:
        c.nothing_to_do("no dormant users")


@app.command("upgrade-hashes")
def upgrade_hashes(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Wrap every legacy bcrypt password hash in argon2id; passwords keep working.

    Idempotent and audited (one password_rehashed row per user). Run it after importing
    med-z1 users. Example: medz1 users upgrade-hashes
    """
    from medz1.auth import users
    from medz1.auth.config import hasher_from_settings

    c = cli_context(ctx)
    hasher = hasher_from_settings(c.settings())
    with c.role_session() as session:
        count = users.upgrade_legacy_hashes(session, hasher=hasher, now=now(), actor=actor())
    if as_json:
        c.print_json({"wrapped": count})
    elif count:
        c.print(f"{count} legacy hash(es) wrapped in argon2id")
    else:
        c.nothing_to_do("no legacy hashes to wrap")
