"""``medz1 replica create | status | start | promote | remove``: reporting standbys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, cli_context
from medz1.errors import UsageError

if TYPE_CHECKING:
    from medz1.embedded import EmbeddedServer
    from medz1.ops.replica import ReplicaStatus

app = typer.Typer(
    help="Hot standbys of the bundled server for reporting reads (same machine only).",
    no_args_is_help=True,
)

_DATA_DIR = typer.Option(None, "--data-dir", help="The standby's folder (default: the only one).")


def _primary(c: CliContext) -> EmbeddedServer:
    if not c.settings().embedded:
        raise UsageError(
            "replica commands make standbys of medz1's bundled server, and "
            "MEDZ1_DATABASE_URL names a server medz1 did not create",
            hint="use that server's own replication (docs/scale.md), or unset MEDZ1_DATABASE_URL",
        )
    return c.server()


def _status_dict(found: ReplicaStatus) -> dict[str, object]:
    return {
        "data_dir": str(found.standby.data_dir),
        "slot": found.standby.slot,
        "port": found.standby.port,
        "running": found.running,
        "state": found.state,
        "in_recovery": found.in_recovery,
        "replay_lag_bytes": found.replay_lag_bytes,
        "replay_lag_seconds": found.replay_lag_seconds,
        "retained_wal_bytes": found.retained_bytes,
    }


def _show(c: CliContext, found: ReplicaStatus) -> None:
    lag = "unknown"
    if found.replay_lag_bytes is not None:
        seconds = (
            f"{found.replay_lag_seconds:.3f} s" if found.replay_lag_seconds is not None else "? s"
        )
        lag = f"{found.replay_lag_bytes} bytes, {seconds}"
    c.print(f"standby {found.standby.data_dir}: {found.state}")
    if found.state == "lost":
        c.print(
            "  the primary no longer holds the WAL it needs: run `medz1 replica remove` "
            "and `medz1 replica create` again"
        )
    if found.state != "promoted":
        c.print(f"  replay lag: {lag}; slot {found.standby.slot}")


@app.command()
def create(
    ctx: typer.Context,
    data_dir: str = typer.Option(..., "--data-dir", help="An empty or new folder."),
    port: int = typer.Option(
        None, "--port", min=1024, max=65535, help="Also listen on 127.0.0.1:PORT."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a hot standby of the bundled server in a folder, start it, wait until it streams.

    Uses pg_basebackup -R with a replication slot and the role medz1_replicator. Set
    MEDZ1_REPORTING_STANDBY to the folder to send reporting reads there.
    Example: medz1 replica create --data-dir ./standby
    """
    from medz1.ops import replica as ops
    from medz1.ops.paths import given_path

    folder = given_path(data_dir, option="--data-dir")
    c = cli_context(ctx)
    primary = _primary(c)
    standby = ops.create(primary, folder, port=port)
    found = ops.status(primary, standby)
    if as_json:
        c.print_json(_status_dict(found))
        return
    c.print(f"standby made in {standby.data_dir} (slot {standby.slot})")
    _show(c, found)


@app.command()
def status(
    ctx: typer.Context,
    data_dir: Path = typer.Option(None, "--data-dir", help="One standby (default: all)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show each standby: state, and replay lag in bytes and seconds.

    Example: medz1 replica status
    """
    from medz1.ops import replica as ops

    c = cli_context(ctx)
    primary = _primary(c)
    standbys = [ops.find(primary, data_dir)] if data_dir is not None else ops.registered(primary)
    found = [ops.status(primary, s) for s in standbys]
    if as_json:
        c.print_json([_status_dict(f) for f in found])
        return
    if not found:
        c.print("no standby (make one with `medz1 replica create --data-dir DIR`)")
    for item in found:
        _show(c, item)


@app.command()
def start(ctx: typer.Context, data_dir: Path = _DATA_DIR, as_json: bool = JSON_OPTION) -> None:
    """Start a standby's server (after a reboot, for example).

    Example: medz1 replica start --data-dir ./standby
    """
    from medz1.ops import replica as ops

    c = cli_context(ctx)
    primary = _primary(c)
    standby = ops.find(primary, data_dir)
    started = ops.start(standby)
    if as_json:
        c.print_json({"data_dir": str(standby.data_dir), "started": started})
    elif started:
        c.print("started")
    else:
        c.nothing_to_do(f"the standby in {standby.data_dir} is already running")


@app.command()
def promote(ctx: typer.Context, data_dir: Path = _DATA_DIR, as_json: bool = JSON_OPTION) -> None:
    """Promote a standby to a primary of its own (failover); its slot is dropped.

    Example: medz1 replica promote --data-dir ./standby
    """
    from medz1.ops import replica as ops

    c = cli_context(ctx)
    primary = _primary(c)
    promoted = ops.promote(primary, ops.find(primary, data_dir))
    if as_json:
        c.print_json({"data_dir": str(promoted.data_dir), "promoted": True})
        return
    c.print(f"promoted: {promoted.data_dir} now accepts writes")


@app.command()
def remove(
    ctx: typer.Context,
    data_dir: Path = _DATA_DIR,
    force: bool = typer.Option(False, "--force", help="Also delete a promoted server."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop a standby, drop its replication slot and delete its files.

    Example: medz1 replica remove --data-dir ./standby
    """
    from medz1.ops import replica as ops

    c = cli_context(ctx)
    primary = _primary(c)
    standby = ops.find(primary, data_dir)
    ops.remove(primary, standby, force=force)
    if as_json:
        c.print_json({"data_dir": str(standby.data_dir), "removed": True})
        return
    c.print(f"removed the standby in {standby.data_dir}")
