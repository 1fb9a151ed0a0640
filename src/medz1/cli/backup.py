"""``medz1 backup create | restore | verify | list``: per-schema backups, verified restores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from medz1.cli.common import JSON_OPTION, CliContext, Col, cli_context, human_size

if TYPE_CHECKING:
    from medz1.db.target import Target
    from medz1.ops.backup.archive import BackupEntry, Reporter
    from medz1.provision.credentials import RolePlan

app = typer.Typer(
    help="Backups of the medz1 database, whole or per schema: create, restore, verify, list.",
    no_args_is_help=True,
)

_SCHEMA_HELP = "Only this schema (repeatable): public, auth, ai, admin. Default: all."
_PATH_HELP = "The backup directory (or its manifest.json)."


class _ProgressReporter:
    """Draws each step of a backup or restore as one line of a rich progress display."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def step(self, description: str, total: int | None = None) -> None:
        """Finish the current line and start a new one."""
        self.finish()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        """Move the current line's bar."""
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        """Mark the current line done."""
        if self._task is not None:
            task = self._progress.tasks[-1]
            done = task.total if task.total is not None else 1
            self._progress.update(self._task, total=done, completed=done)


class _Count(ProgressColumn):
    """``done/total`` for steps with a total, nothing for the others."""

    def render(self, task: Task) -> Text:
        """The count of one task."""
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}")


@contextmanager
def _progress(c: CliContext) -> Iterator[Reporter]:
    """A progress display on stderr when it is a terminal; nothing for scripts and logs."""
    from medz1.ops.backup.archive import NullReporter

    if not c.err.is_terminal:
        yield NullReporter()
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/green]"),
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=c.err) as progress:
        reporter = _ProgressReporter(progress)
        yield reporter
        reporter.finish()


def _read_manifest_first(path: Path) -> None:
    """Refuse a backup whose manifest is unreadable or invalid before connecting (exit 8),
    as before the role plan needed the server's roles; a missing manifest is left to the
    verb, which names it."""
    from medz1.ops.backup import _manifest as bm
    from medz1.ops.backup.archive import read_manifest

    folder = path.expanduser() if path.expanduser().is_dir() else path.expanduser().parent
    manifest = folder / bm.MANIFEST_NAME
    if manifest.is_file():
        read_manifest(manifest)


def _restore_plan(c: CliContext, where: Target) -> RolePlan:
    """Passwords are generated (and kept) only for roles the server does not have yet: a
    restore never sets an existing role's password, so it stores none it made up."""
    from medz1.ops.database import existing_roles
    from medz1.provision.credentials import role_plan_from_settings
    from medz1.provision.declared import LOGIN_ROLES

    return role_plan_from_settings(
        c.settings(),
        generate_passwords=True,
        existing_roles=existing_roles(where, LOGIN_ROLES),
        refuse_unknown=False,
    )


@app.command()
def create(
    ctx: typer.Context,
    schema: list[str] | None = typer.Option(
        None, "--schema", "-s", metavar="SCHEMA", help=_SCHEMA_HELP
    ),
    out: str | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="DIR",
        help="New directory for the backup (default: <MEDZ1_DATA_DIR>/backups/<time>-<schemas>).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back up the database into a new directory: a pg_dump archive and its manifest.

    The manifest records the migration revision, per-table row counts and content
    digests, the ACLs, extensions and roles (never passwords). Files are mode 0600.

    \b
    Example: medz1 backup create --schema auth
    """
    from medz1.ops.backup import create as run_create
    from medz1.ops.backup.archive import backups_dir
    from medz1.ops.paths import given_path

    out_dir = None if out is None else given_path(out, option="--out")
    c = cli_context(ctx)
    where = c.target()
    with _progress(c) as reporter:
        report = run_create(
            where,
            root=backups_dir(c.settings().data_path),
            schemas=schema,
            out=out_dir,
            reporter=reporter,
        )
    manifest = report.manifest
    if as_json:
        c.print_json(
            {
                "path": str(report.path),
                "schemas": list(manifest.schemas),
                "revision": manifest.revision,
                "tables": len(manifest.tables),
                "rows": manifest.rows,
                "size": report.size,
                "seconds": round(report.duration, 3),
            }
        )
        return
    c.print(f"backup written: {report.path}")
    c.table(
        (
            Col("schemas", key=True),
            Col("revision", key=True),
            Col("tables", justify="right"),
            Col("rows", justify="right"),
            Col("size", justify="right"),
            Col("duration", justify="right"),
        ),
        [
            [
                ", ".join(manifest.schemas),
                manifest.revision,
                str(len(manifest.tables)),
                f"{manifest.rows:,}",
                human_size(report.size),
                f"{report.duration:.1f} s",
            ]
        ],
    )


@app.command()
def restore(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="PATH", help=_PATH_HELP),
    schema: list[str] | None = typer.Option(
        None, "--schema", "-s", metavar="SCHEMA", help=_SCHEMA_HELP
    ),
    into: str | None = typer.Option(
        None,
        "--into",
        metavar="DATABASE",
        help="Database to create (default: medz1_restore_<time>).",
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Replace the restored schemas of an existing database (the current one, or "
        "--into) in one transaction; it must be at the backup's migration revision.",
    ),
    discard_newer_audit_rows: int | None = typer.Option(
        None,
        "--discard-newer-audit-rows",
        metavar="N",
        min=0,
        max=2**63 - 1,
        help="With --replace of auth: accept losing the N audit rows written after the "
        "backup (N must be the exact count the refusal states; the restore's audit event "
        "records it). Without it such a restore is refused.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a backup into a new database (default) or, with --replace, in place; verify it.

    The archive is first compared with medz1's own schema at the backup's revision; one
    undeclared object refuses it (exit 8) before anything is restored. A new database is
    built as <name>__medz1_restoring_<id> and renamed only once verified. Roles are created
    if missing, with passwords from medz1's settings; grants are re-applied; row counts,
    digests and ACLs must match the manifest or nothing is kept. Every restore writes a
    backup_restored event into the audit chain of the database restored into.

    \b
    Example: medz1 backup restore .medz1/backups/20260101T000000Z-auth --replace
    """
    from medz1.ops.backup import restore as run_restore

    c = cli_context(ctx)
    _read_manifest_first(path)  # a bad manifest is refused before any connection
    where = c.target()
    declared = _restore_plan(c, where)
    with _progress(c) as reporter:
        report = run_restore(
            where,
            declared,
            path,
            schemas=schema,
            into=into,
            replace=replace,
            discard_newer_audit_rows=discard_newer_audit_rows,
            reporter=reporter,
        )
    if as_json:
        c.print_json(
            {
                "database": report.database,
                "replaced": report.replaced,
                "schemas": list(report.schemas),
                "tables": report.tables,
                "rows": report.rows,
                "seconds": round(report.duration, 3),
                "roles_changed": list(report.roles_changed),
                "differences": [],
            }
        )
        return
    action = "replaced" if report.replaced else "restored"
    c.print(
        f"{action} {', '.join(report.schemas)} in database {report.database}: "
        f"{report.tables} tables, {report.rows:,} rows in {report.duration:.1f} s"
    )
    if report.roles_changed:
        c.print(f"roles and owners: {len(report.roles_changed)} change(s) applied")
    c.print("verified: 0 differences (row counts, content digests, ACLs, grants)")


@app.command()
def verify(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="PATH", help=_PATH_HELP),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore into a scratch database, compare with the manifest, drop it; exit 5 on differences.

    Compares row counts, content digests, ACLs and the declared grants.

    \b
    Example: medz1 backup verify .medz1/backups/20260101T000000Z-all
    """
    from medz1.ops.backup import verify as run_verify

    c = cli_context(ctx)
    _read_manifest_first(path)  # a bad manifest is refused before any connection
    where = c.target()
    declared = _restore_plan(c, where)
    if as_json:
        report = run_verify(where, declared, path)
    else:
        with _progress(c) as reporter:
            report = run_verify(where, declared, path, reporter=reporter)
    if as_json:
        c.print_json(
            {
                "ok": not report.differences,
                "path": str(report.path),
                "tables": report.tables,
                "rows": report.rows,
                "differences": report.differences,
            }
        )
    else:
        for line in report.differences:
            c.print(f"- {line}")
        c.print(
            f"{len(report.differences)} difference(s)"
            if report.differences
            else f"0 differences ({report.tables} tables, {report.rows:,} rows)"
        )
    if report.differences:
        raise typer.Exit(5)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the backups in <MEDZ1_DATA_DIR>/backups with their manifests, oldest first.

    \b
    Example: medz1 backup list --json
    """
    from medz1.models import SCHEMAS
    from medz1.ops.backup.archive import backups_dir, list_backups

    c = cli_context(ctx)
    entries = list_backups(backups_dir(c.settings().data_path))
    if as_json:
        c.print_json([_entry_json(e) for e in entries])
        return
    if not entries:
        c.print("no backups yet (create one with `medz1 backup create`)")
        return
    rows = []
    for entry in entries:
        m = entry.manifest
        if m is None:
            rows.append([entry.path.name, "-", "-", "-", "-", "-", human_size(entry.size)])
            continue
        rows.append(
            [
                entry.path.name,
                m.created_at.replace("T", " ")[:16] + "Z",
                "all" if m.schemas == SCHEMAS else ", ".join(m.schemas),
                m.revision,
                str(len(m.tables)),
                f"{m.rows:,}",
                human_size(entry.size),
            ]
        )
    c.table(
        (
            Col("backup", key=True),
            Col("created", drop=1),
            Col("schemas", key=True),
            Col("rev", key=True),
            Col("tables", justify="right", drop=2),
            Col("rows", justify="right", drop=3),
            Col("size", justify="right"),
        ),
        rows,
    )
    for entry in entries:
        if entry.problem:
            c.err.print(f"{entry.path.name}: {entry.problem}", markup=False)


def _entry_json(entry: BackupEntry) -> dict[str, object]:
    m = entry.manifest
    if m is None:
        return {"path": str(entry.path), "size": entry.size, "problem": entry.problem}
    return {
        "path": str(entry.path),
        "created_at": m.created_at,
        "schemas": list(m.schemas),
        "revision": m.revision,
        "tables": len(m.tables),
        "rows": m.rows,
        "size": entry.size,
        "medz1_version": m.medz1_version,
        "postgresql_version": m.postgresql_version,
        "problem": None,
    }


@app.command("list-restores")
def list_restores(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List databases a restore or verify is building, or left behind when it was killed.

    Leftovers are dropped by the next restore, or by `medz1 backup drop-restore NAME`.

    \b
    Example: medz1 backup list-restores --json
    """
    from medz1.ops.backup.scratch import list_unfinished

    c = cli_context(ctx)
    entries = list_unfinished(c.target())
    if as_json:
        c.print_json([entry.as_json() for entry in entries])
        return
    if not entries:
        c.print("no unfinished restores")
        return
    c.table(
        (
            Col("database", key=True),
            Col("purpose"),
            Col("into", key=True),
            Col("started", drop=1),
            Col("state"),
            Col("size", justify="right", drop=2),
        ),
        [
            [
                entry.name,
                entry.purpose,
                entry.into,
                entry.started,
                "in progress" if entry.in_progress else "left behind",
                human_size(entry.size),
            ]
            for entry in entries
        ],
    )


@app.command("drop-restore")
def drop_restore(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="A database listed by list-restores."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Drop a database an interrupted restore left behind (never any other database).

    \b
    Example: medz1 backup drop-restore medz1_restore_x__medz1_restoring_0a1b2c3d
    """
    from medz1.ops.backup.scratch import drop_unfinished

    c = cli_context(ctx)
    drop_unfinished(c.target(), name)
    if as_json:
        c.print_json({"dropped": name})
    else:
        c.print(f"dropped {name}")
