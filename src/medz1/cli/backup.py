"""``medz1 backup create | restore | verify | list``: per-schema backups, verified restores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich import box
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
from rich.table import Column, Table
from rich.text import Text

from medz1.cli import console
from medz1.cli.context import state, target
from medz1.cli.up import human_size
from medz1.db.target import Target
from medz1.models import SCHEMAS
from medz1.ops.backup import create as run_create
from medz1.ops.backup import restore as run_restore
from medz1.ops.backup import verify as run_verify
from medz1.ops.backup.archive import (
    BackupEntry,
    NullReporter,
    Reporter,
    backups_dir,
    list_backups,
)
from medz1.ops.backup.scratch import drop_unfinished, list_unfinished
from medz1.ops.database import existing_roles
from medz1.provision.credentials import Policy, policy_from_settings
from medz1.provision.policy import LOGIN_ROLES
from medz1.settings import Settings

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
def _progress() -> Iterator[Reporter]:
    """A progress display on stderr when it is a terminal; nothing for scripts and logs."""
    if not console.err.is_terminal:
        yield NullReporter()
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/green]"),
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console.err) as progress:
        reporter = _ProgressReporter(progress)
        yield reporter
        reporter.finish()


def _restore_policy(settings: Settings, where: Target) -> Policy:
    """Passwords are generated (and kept) only for roles the server does not have yet: a
    restore never sets an existing role's password, so it stores none it made up."""
    return policy_from_settings(
        settings,
        generate_passwords=True,
        existing_roles=existing_roles(where, LOGIN_ROLES),
        refuse_unknown=False,
    )


@app.command()
def create(
    schema: list[str] | None = typer.Option(
        None, "--schema", "-s", metavar="SCHEMA", help=_SCHEMA_HELP
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="DIR",
        help="New directory for the backup (default: <MEDZ1_DATA_DIR>/backups/<time>-<schemas>).",
    ),
) -> None:
    """Back up the database into a new directory: a pg_dump archive and its manifest.

    The manifest records the migration revision, per-table row counts and content
    digests, the ACLs, extensions and roles (never passwords). Files are mode 0600.

    \b
    Example: medz1 backup create --schema auth
    """
    settings = state.settings()
    where = target(settings)
    with _progress() as reporter:
        report = run_create(
            where,
            root=backups_dir(settings.data_path),
            schemas=schema,
            out=out,
            reporter=reporter,
        )
    manifest = report.manifest
    console.out.print(f"backup written: {report.path}", markup=False)
    summary = Table("schemas", "revision", "tables", "rows", "size", "duration")
    summary.add_row(
        ", ".join(manifest.schemas),
        manifest.revision,
        str(len(manifest.tables)),
        f"{manifest.rows:,}",
        human_size(report.size),
        f"{report.duration:.1f} s",
    )
    console.out.print(summary)


@app.command()
def restore(
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
        help="With --replace of auth: accept losing the N audit rows written after the "
        "backup (N must be the exact count the refusal states; the restore's audit event "
        "records it). Without it such a restore is refused.",
    ),
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
    settings = state.settings()
    where = target(settings)
    declared = _restore_policy(settings, where)
    with _progress() as reporter:
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
    action = "replaced" if report.replaced else "restored"
    console.out.print(
        f"{action} {', '.join(report.schemas)} in database {report.database}: "
        f"{report.tables} tables, {report.rows:,} rows in {report.duration:.1f} s",
        markup=False,
    )
    if report.roles_changed:
        console.out.print(f"roles and owners: {len(report.roles_changed)} change(s) applied")
    console.out.print("verified: 0 differences (row counts, content digests, ACLs, grants)")


@app.command()
def verify(
    path: Path = typer.Argument(..., metavar="PATH", help=_PATH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Restore into a scratch database, compare with the manifest, drop it; exit 5 on differences.

    Compares row counts, content digests, ACLs and the declared grants.

    \b
    Example: medz1 backup verify .medz1/backups/20260101T000000Z-all
    """
    settings = state.settings()
    where = target(settings)
    declared = _restore_policy(settings, where)
    if as_json:
        report = run_verify(where, declared, path)
    else:
        with _progress() as reporter:
            report = run_verify(where, declared, path, reporter=reporter)
    if as_json:
        console.print_json(
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
            console.out.print(f"- {line}", markup=False)
        console.out.print(
            f"{len(report.differences)} difference(s)"
            if report.differences
            else f"0 differences ({report.tables} tables, {report.rows:,} rows)"
        )
    if report.differences:
        raise typer.Exit(5)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the backups in <MEDZ1_DATA_DIR>/backups with their manifests, oldest first.

    \b
    Example: medz1 backup list --json
    """
    entries = list_backups(backups_dir(state.settings().data_path))
    if as_json:
        console.print_json([_entry_json(e) for e in entries])
        return
    if not entries:
        console.out.print("no backups yet (create one with `medz1 backup create`)")
        return
    table = Table(
        *(Column(name, no_wrap=True) for name in ("backup", "created", "schemas")),
        *(Column(name, no_wrap=True, justify="right") for name in ("rev", "tables", "rows")),
        Column("size", no_wrap=True, justify="right", min_width=8),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    for entry in entries:
        m = entry.manifest
        if m is None:
            table.add_row(entry.path.name, "-", "-", "-", "-", "-", human_size(entry.size))
            continue
        table.add_row(
            entry.path.name,
            m.created_at.replace("T", " ")[:16] + "Z",
            "all" if m.schemas == SCHEMAS else ", ".join(m.schemas),
            m.revision,
            str(len(m.tables)),
            f"{m.rows:,}",
            human_size(entry.size),
        )
    console.out.print(table)
    for entry in entries:
        if entry.problem:
            console.out.print(f"{entry.path.name}: {entry.problem}", markup=False)


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
def list_restores(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List databases a restore or verify is building, or left behind when it was killed.

    Leftovers are dropped by the next restore, or by `medz1 backup drop-restore NAME`.

    \b
    Example: medz1 backup list-restores --json
    """
    entries = list_unfinished(target(state.settings()))
    if as_json:
        console.print_json([entry.as_json() for entry in entries])
        return
    if not entries:
        console.out.print("no unfinished restores")
        return
    table = Table("database", "purpose", "into", "started", "state", "size", box=box.SIMPLE_HEAD)
    for entry in entries:
        table.add_row(
            entry.name,
            entry.purpose,
            entry.into,
            entry.started,
            "in progress" if entry.in_progress else "left behind",
            human_size(entry.size),
        )
    console.out.print(table)


@app.command("drop-restore")
def drop_restore(
    name: str = typer.Argument(..., metavar="NAME", help="A database listed by list-restores."),
) -> None:
    """Drop a database an interrupted restore left behind (never any other database).

    \b
    Example: medz1 backup drop-restore medz1_restore_x__medz1_restoring_0a1b2c3d
    """
    drop_unfinished(target(state.settings()), name)
    console.out.print(f"dropped {name}", markup=False)
