"""``medz1 server start | stop | status``: the bundled PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, cli_context

if TYPE_CHECKING:
    from medz1.embedded import ServerStatus

#: Exit code of ``server status`` when the server is stopped (pg_ctl status's code).
NOT_RUNNING = 3

app = typer.Typer(
    help="Start, stop and inspect the bundled PostgreSQL server.", no_args_is_help=True
)


def _show(c: CliContext, status: ServerStatus) -> None:
    if not status.running:
        c.print(f"server: not running (data directory {status.data_dir})")
        return
    where = f"socket {status.socket_dir}"
    if status.tcp:
        where += f", port 127.0.0.1:{status.port}"
    c.print(f"server: running, pid {status.pid}, {where}")
    c.print(f"PostgreSQL {status.version}, data directory {status.data_dir}")


def _as_dict(status: ServerStatus) -> dict[str, object]:
    return {
        "running": status.running,
        "pid": status.pid,
        "socket_dir": str(status.socket_dir) if status.socket_dir else None,
        "port": status.port,
        "tcp": status.tcp,
        "postgresql_version": status.version,
        "data_dir": str(status.data_dir),
    }


@app.command()
def start(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Start the server (create it on first use); does nothing if it runs already.

    Example: medz1 server start
    """
    c = cli_context(ctx)
    status, started = c.server().start()
    if as_json:
        c.print_json({"started": started, **_as_dict(status)})
        return
    if started:
        c.print("started")
    else:
        c.nothing_to_do("the server is already running")
    _show(c, status)


@app.command()
def stop(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Stop the server (fast shutdown: open sessions are rolled back).

    Example: medz1 server stop
    """
    c = cli_context(ctx)
    embedded = c.server()
    stopped = embedded.stop()
    if as_json:
        c.print_json({"stopped": stopped, "data_dir": str(embedded.data_dir)})
    elif stopped:
        c.print(f"stopped (data directory {embedded.data_dir})")
    else:
        c.nothing_to_do(f"the server was not running (data directory {embedded.data_dir})")


@app.command()
def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show whether the server runs: pid, socket or port, PostgreSQL version, data directory.

    Exits 0 when it runs and 3 when it does not (as ``pg_ctl status`` does).
    Example: medz1 server status --json
    """
    c = cli_context(ctx)
    current = c.server().status()
    if as_json:
        c.print_json(_as_dict(current))
    else:
        _show(c, current)
    if not current.running:
        raise typer.Exit(NOT_RUNNING)
