"""``medz1 sessions list | revoke | purge``: login sessions of the viewer.

Sessions are shown by their public id; tokens are never stored, so never shown. Commands
connect as the application role.
"""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from medz1.auth import sessions, users
from medz1.auth.records import SessionRecord
from medz1.cli.console import out, print_json
from medz1.cli.users import JSON_OPTION, actor, now, role_session
from medz1.errors import UsageError

app = typer.Typer(help="Login sessions: list, revoke, purge expired ones.", no_args_is_help=True)


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise UsageError(
            "a session id is a UUID", hint="see `medz1 sessions list` for the ids"
        ) from None


def _table(found: list[SessionRecord], emails: dict[uuid.UUID, str]) -> Table:
    table = Table("session id", "user", "created (UTC)", "ends (UTC)", "active", "ip")
    for record in found:
        table.add_row(
            str(record.session_id),
            emails.get(record.user_id, str(record.user_id)),
            record.created_at.strftime("%Y-%m-%d %H:%M") if record.created_at else "-",
            record.ends_at().strftime("%Y-%m-%d %H:%M"),
            "yes" if record.is_active else "no",
            record.ip_address or "-",
        )
    return table


@app.command("list")
def list_(
    user: str = typer.Option(None, "--user", help="Only this user (e-mail or user id)."),
    include_ended: bool = typer.Option(False, "--all", help="Also ended and expired sessions."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List sessions usable now (or all with --all), newest first.

    Example: medz1 sessions list --user greg.house@va.gov
    """
    with role_session() as session:
        user_id = users.resolve_user(session, ident=user).user_id if user else None
        found = sessions.list_sessions(
            session, now=now(), user_id=user_id, include_ended=include_ended, limit=100_000
        )
        emails = {u.user_id: u.email for u in users.list_users(session, limit=100_000)}
    if as_json:
        print_json([record.as_json() for record in found])
        return
    out.print(_table(found, emails))
    out.print(f"{len(found)} session(s)")


@app.command()
def revoke(
    session_id: str = typer.Argument(None, help="The session to end (its id)."),
    user: str = typer.Option(None, "--user", help="End every session of this user instead."),
) -> None:
    """End one session by id, or every session of a user with --user.

    Example: medz1 sessions revoke 0b8f0c4e-6d1a-4f7e-9a51-3c1d2b7e9f10
    """
    if (session_id is None) == (user is None):
        raise UsageError(
            "name one session id or one --user", hint="medz1 sessions revoke SESSION_ID"
        )
    with role_session() as session:
        if user is not None:
            found = users.resolve_user(session, ident=user)
            ended = sessions.revoke_user_sessions(
                session, user_id=found.user_id, now=now(), actor=actor()
            )
            out.print(f"{len(ended)} session(s) of {found.email} ended", markup=False)
            return
        record = sessions.revoke_session(
            session, session_id=_session_id(session_id), now=now(), actor=actor()
        )
    state = "ended" if record.is_active else "was already ended"
    out.print(f"session {record.session_id} {state}", markup=False)


@app.command()
def purge(as_json: bool = JSON_OPTION) -> None:
    """Delete ended and expired sessions (expired ones get their timeout audit row first).

    Run it hourly (cron, systemd timer). Example: medz1 sessions purge
    """
    with role_session() as session:
        report = sessions.purge_expired(session, now=now())
    if as_json:
        print_json({"timed_out": report.timed_out, "deleted": report.deleted})
        return
    out.print(f"{report.deleted} session(s) deleted, {report.timed_out} of them timed out")
