"""``medz1 sessions list | revoke | purge``: login sessions of the viewer.

Sessions are shown by their public id; tokens are never stored, so never shown. Commands
connect as the application role.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, Col, actor, cli_context, now
from medz1.errors import UsageError

if TYPE_CHECKING:
    from medz1.auth.records import SessionRecord

app = typer.Typer(help="Login sessions: list, revoke, purge expired ones.", no_args_is_help=True)

#: Columns of ``sessions list``: the id and the e-mail are never cut.
SESSION_COLUMNS = (
    Col("session id", key=True),
    Col("user", key=True),
    Col("created (UTC)", drop=2),
    Col("ends (UTC)", drop=1),
    Col("active"),
    Col("ip", drop=3),
)


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise UsageError(
            "a session id is a UUID", hint="see `medz1 sessions list` for the ids"
        ) from None


def _row(record: SessionRecord, emails: dict[uuid.UUID, str]) -> list[str]:
    return [
        str(record.session_id),
        emails.get(record.user_id, str(record.user_id)),
        record.created_at.strftime("%Y-%m-%d %H:%M") if record.created_at else "-",
        record.ends_at().strftime("%Y-%m-%d %H:%M"),
        "yes" if record.is_active else "no",
        record.ip_address or "-",
    ]


@app.command("list")
def list_(
    ctx: typer.Context,
    user: str = typer.Option(None, "--user", help="Only this user (e-mail or user id)."),
    include_ended: bool = typer.Option(False, "--all", help="Also ended and expired sessions."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List sessions usable now (or all with --all), newest first; ids are never cut.

    Example: medz1 sessions list --user greg.house@va.gov
    """
    from medz1.auth import sessions, users

    c = cli_context(ctx)
    with c.role_session() as session:
        user_id = users.resolve_user(session, ident=user).user_id if user else None
        found = sessions.list_sessions(
            session, now=now(), user_id=user_id, include_ended=include_ended, limit=100_000
        )
        emails = {u.user_id: u.email for u in users.list_users(session, limit=100_000)}
    if as_json:
        c.print_json([record.as_json() for record in found])
        return
    c.table(SESSION_COLUMNS, [_row(record, emails) for record in found])
    c.note(f"{len(found)} session(s)")


@app.command()
def revoke(
    ctx: typer.Context,
    session_id: str = typer.Argument(None, help="The session to end (its id)."),
    user: str = typer.Option(None, "--user", help="End every session of this user instead."),
    as_json: bool = JSON_OPTION,
) -> None:
    """End one session by id, or every session of a user with --user.

    Example: medz1 sessions revoke 0b8f0c4e-6d1a-4f7e-9a51-3c1d2b7e9f10
    """
    from medz1.auth import sessions, users

    if (session_id is None) == (user is None):
        raise UsageError(
            "name one session id or one --user", hint="medz1 sessions revoke SESSION_ID"
        )
    c = cli_context(ctx)
    with c.role_session() as session:
        if user is not None:
            found = users.resolve_user(session, ident=user)
            ended = sessions.revoke_user_sessions(
                session, user_id=found.user_id, now=now(), actor=actor()
            )
            if as_json:
                c.print_json({"email": found.email, "ended": [str(i) for i in ended]})
            elif ended:
                c.print(f"{len(ended)} session(s) of {found.email} ended")
            else:
                c.nothing_to_do(f"{found.email} had no active session")
            return
        record = sessions.revoke_session(
            session, session_id=_session_id(session_id), now=now(), actor=actor()
        )
    if as_json:
        c.print_json({"session_id": str(record.session_id), "ended": record.is_active})
    elif record.is_active:
        c.print(f"session {record.session_id} ended")
    else:
        c.nothing_to_do(f"session {record.session_id} was already ended")


@app.command()
def purge(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Delete ended and expired sessions (expired ones get their timeout audit row first).

    Run it hourly (cron, systemd timer). Example: medz1 sessions purge
    """
    from medz1.auth import sessions

    c = cli_context(ctx)
    with c.role_session() as session:
        report = sessions.purge_expired(session, now=now())
    if as_json:
        c.print_json({"timed_out": report.timed_out, "deleted": report.deleted})
    elif report.deleted:
        c.print(f"{report.deleted} session(s) deleted, {report.timed_out} of them timed out")
    else:
        c.nothing_to_do("no ended or expired sessions")
