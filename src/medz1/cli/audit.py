"""``medz1 audit tail | verify | export | purge``: the authentication audit trail.

Commands connect as the auditor role (``medz1_auditor``), which may read audit rows and
purge rows past retention, nothing else. ``verify`` recomputes the hash chain of every row
and compares it with the signed checkpoints kept outside the database
(``<data dir>/audit/checkpoints.jsonl``), and exits 5 naming the first bad row, rewind,
rewrite, forged checkpoint or deleted checkpoint log.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context
from medz1.errors import CheckFailedError, UsageError

if TYPE_CHECKING:
    from medz1.auth.audit import AuditRecord
    from medz1.auth.checkpoints import CheckpointLog

app = typer.Typer(
    help="The audit trail: tail, verify the hash chain and checkpoints, checkpoint, export, "
    "purge past retention.",
    no_args_is_help=True,
)

#: Columns of ``audit tail``: ids, e-mails and the reason are never cut.
AUDIT_COLUMNS = (
    Col("seq", justify="right"),
    Col("time (UTC)", drop=2),
    Col("event", key=True),
    Col("ok"),
    Col("user id", key=True, drop=1),
    Col("e-mail", key=True),
    Col("ip", drop=3),
    Col("reason"),
)


def _reason(row: AuditRecord) -> str:
    """Why: the failure reason, or the reason an administrator gave (``users disable``)."""
    given = (row.details or {}).get("reason")
    return row.failure_reason or (str(given) if given else "-")


def _row(row: AuditRecord) -> list[str]:
    return [
        str(row.chain_seq),
        row.event_timestamp.strftime("%Y-%m-%d %H:%M:%S") if row.event_timestamp else "-",
        row.event_type,
        {True: "yes", False: "no", None: "-"}[row.success],
        str(row.user_id) if row.user_id else "-",
        row.email or "-",
        row.ip_address or "-",
        _reason(row),
    ]


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not a date",
            hint="use ISO 8601, e.g. 2026-01-31 or 2026-01-31T08:00Z",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def tail(
    ctx: typer.Context,
    lines: int = typer.Option(
        20, "-n", "--lines", min=1, max=100_000, help="How many rows (newest last; 1-100,000)."
    ),
    user: str = typer.Option(None, "--user", help="Only rows of this user (e-mail or user id)."),
    event: str = typer.Option(None, "--event", help="Only this event type, e.g. login_failed."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the newest audit rows (tab-separated when piped; identifiers are never cut).

    Example: medz1 audit tail -n 50 --event login_failed
    """
    from medz1.auth import audit

    c = cli_context(ctx)
    user_id = _user_id(c, user) if user is not None else None
    with c.role_session("auditor") as session:
        rows = audit.tail(session, limit=lines, user_id=user_id, event_type=event)
    if as_json:
        c.print_json([row.as_json() for row in rows])
    else:
        c.table(AUDIT_COLUMNS, [_row(row) for row in rows])


def _user_id(c: CliContext, user: str) -> uuid.UUID:
    """The user id of ``--user``: a user id as given, an e-mail looked up as the app role."""
    try:
        return uuid.UUID(user)
    except ValueError:
        pass
    from medz1.auth import users

    with c.role_session() as session:
        return users.resolve_user(session, ident=user).user_id


def _checkpoint_log(c: CliContext) -> CheckpointLog | None:
    """The checkpoint log to verify against; None when no key exists and no log either."""
    from medz1.auth import checkpoints

    settings = c.settings()
    log = checkpoints.log_for(settings.data_path, settings.audit_key, create_key=False)
    path = settings.data_path / checkpoints.CHECKPOINTS_FILE
    if log is None and path.exists():
        raise CheckFailedError(
            f"the audit checkpoint log {path} exists but the key that signs it is "
            "gone, so its checkpoints cannot be checked",
            hint="restore <data dir>/secrets/audit.key from a backup, or set MEDZ1_AUDIT_KEY",
        )
    return log


@app.command()
def verify(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Recompute the hash chain of every audit row and check the signed checkpoints;
    exit 5 naming the first bad row, rewind, rewrite or forged checkpoint.

    Example: medz1 audit verify
    """
    from medz1.auth import audit

    c = cli_context(ctx)
    log = _checkpoint_log(c)
    with c.role_session("auditor") as session:
        report = audit.verify_chain(session, checkpoints=log)
    if as_json:
        c.print_json(
            {
                "ok": report.ok,
                "rows_checked": report.rows_checked,
                "anchor_seq": report.anchor_seq,
                "last_seq": report.last_seq,
                "purged_rows": report.purged_rows,
                "checkpoints_used": report.checkpoints_used,
                "checkpoints_checked": report.checkpoints_checked,
                "checkpoint_seq": report.checkpoint_seq,
                "first_break": None if report.first_break is None else report.first_break.__dict__,
            }
        )
    if report.first_break is not None:
        hint = "the audit trail was changed outside medz1; compare with a backup"
        if report.first_break.kind == "forged_checkpoint":
            hint = (
                "either the checkpoint log was changed, or the key is not the one that signed "
                "it (MEDZ1_AUDIT_KEY or secrets/audit.key changed): check the key first"
            )
        raise CheckFailedError(report.first_break.describe(), hint=hint)
    if not as_json:
        c.out.print(
            f"audit chain verified: {report.rows_checked} row(s), chain_seq "
            f"{report.anchor_seq + 1} to {report.last_seq}, {report.purged_rows} purged"
        )
        if report.checkpoints_used:
            c.out.print(
                f"{report.checkpoints_checked} signed checkpoint(s) match, the newest at "
                f"chain_seq {report.checkpoint_seq if report.checkpoint_seq else '-'}"
            )
        else:
            c.out.print(
                "no audit key yet, so no signed checkpoints were checked (the first medz1 "
                "command that writes an audit event creates both)"
            )


@app.command()
def checkpoint(
    ctx: typer.Context,
    new_epoch: bool = typer.Option(
        False,
        "--new-epoch",
        help="Accept the trail as it is now: check the rows only and start a new epoch "
        "(after investigating a reported fault; earlier checkpoints stay in the log).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify the trail, then sign a checkpoint of its newest row.

    medz1 checkpoints its own audit writes as they commit; rows other writers add (med-z1's
    own INSERT) are pinned from the next checkpoint on, so run this regularly.
    Example: medz1 audit checkpoint   (e.g. hourly from cron)
    """
    from medz1.auth import audit, checkpoints

    c = cli_context(ctx)
    log = _checkpoint_log(c)
    with c.role_session("auditor") as session:
        report = audit.verify_chain(session, checkpoints=None if new_epoch else log)
        if report.first_break is not None:
            raise CheckFailedError(
                report.first_break.describe(),
                hint="nothing was signed; find out what changed before checkpointing again",
            )
        newest = audit.newest_row(session)
    signed = None
    if newest is not None:
        settings = c.settings()
        log = log or checkpoints.log_for(settings.data_path, settings.audit_key, create_key=True)
        assert log is not None  # create_key=True always yields a log
        database, seq, row_hash = newest
        started = not log.path.exists()
        if not new_epoch and _already_signed(log, database, seq, row_hash):
            if as_json:
                c.print_json({"checkpoint_seq": None, "signed_seq": seq})
            else:
                c.nothing_to_do(f"the newest audit row (chain_seq {seq}) is already signed")
            return
        reason = "acknowledged" if new_epoch else "started" if started else None
        log.append(
            database=database,
            seq=seq,
            row_hash=row_hash,
            kind="checkpoint" if reason is None else "epoch",
            reason=reason,
        )
        signed = seq
    if as_json:
        c.print_json({"checkpoint_seq": signed})
    elif signed is None:
        c.nothing_to_do("no audit rows yet to checkpoint")
    else:
        c.print(f"audit trail verified; checkpoint signed at chain_seq {signed}")


def _already_signed(log: CheckpointLog, database: str, seq: int, row_hash: bytes) -> bool:
    """True when the newest checkpoint of ``database`` already pins this very row."""
    current = log.scan(database).current
    return bool(current) and (current[-1].seq, current[-1].row_hash) == (seq, bytes(row_hash))


def _write_lines(rows: Iterable[AuditRecord], handle: TextIO) -> int:
    count = 0
    for row in rows:
        handle.write(json.dumps(row.as_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


@app.command()
def export(
    ctx: typer.Context,
    out_file: str = typer.Option(None, "--out", help="Write to this new file (mode 0600)."),
    since: str = typer.Option(None, "--since", help="Only rows from this UTC date or time on."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """Export audit rows in chain order as JSON lines (stdout, or a file only you can read).

    --out never writes through a symbolic link and refuses an existing file unless --force
    (which replaces it with a new file of mode 0600).

    Example: medz1 audit export --since 2026-01-01 --out audit-2026.jsonl
    """
    from medz1.auth import audit
    from medz1.ops.paths import create_new_file, given_path

    c = cli_context(ctx)
    start = _since(since)
    if out_file is None:
        with c.role_session("auditor") as session:
            _write_lines(audit.export(session, since=start), sys.stdout)
        return
    # Created before anything is read, so a path that cannot be written reads nothing.
    path = given_path(out_file, option="--out")
    fd = create_new_file(path, option="--out", force=force)
    try:
        with (
            os.fdopen(fd, "w", encoding="utf-8") as handle,
            c.role_session("auditor") as session,
        ):
            count = _write_lines(audit.export(session, since=start), handle)
    except BaseException:
        path.unlink(missing_ok=True)  # no partial export left behind
        raise
    c.err.print(f"{count} row(s) written to {path}", markup=False)  # stdout stays data


@app.command()
def purge(
    ctx: typer.Context,
    days: int = typer.Option(
        None, "--days", min=1, max=36_600, help="Keep this many days (at least 2192)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Confirm; purged rows are gone."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete the oldest audit rows past retention (MEDZ1_AUDIT_RETENTION_DAYS, >= 6 years).

    The chain stays verifiable. Example: medz1 audit purge --yes
    """
    if not yes:
        raise UsageError("purged audit rows cannot be recovered", hint="add --yes to confirm")
    from medz1.auth import audit
    from medz1.auth.config import AuthConfig

    c = cli_context(ctx)
    retention = (
        days if days is not None else AuthConfig.from_settings(c.settings()).audit_retention_days
    )
    with c.role_session("auditor") as session:
        deleted = audit.purge(session, retention_days=retention)
    if as_json:
        c.print_json({"deleted": deleted, "retention_days": retention})
    elif deleted:
        c.print(f"{deleted} audit row(s) older than {retention} days purged")
    else:
        c.nothing_to_do(f"no audit rows older than {retention} days")
