"""``medz1 server start | stop | status``: the bundled PostgreSQL."""

from __future__ import annotations

import typer

from medz1.cli.console import out, print_json
from medz1.cli.context import server, state
from medz1.embedded import ServerStatus

app = typer.Typer(
    help="Start, stop and inspect the bundled PostgreSQL server.", no_args_is_help=True
)


def _show(status: ServerStatus) -> None:
    if not status.running:
        out.print(f"server: not running (data directory {status.data_dir})")
        return
    where = f"socket {status.socket_dir}"
    if status.tcp:
        where += f", port 127.0.0.1:{status.port}"
    out.print(f"server: running, pid {status.pid}, {where}")
    out.print(f"PostgreSQL {status.version}, data directory {status.data_dir}")


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
def start() -> None:
    """Start the server (create it on first use); does nothing if it runs already.

    Example: medz1 server start
    """
    status, started = server(state.settings()).start()
    out.print("started" if started else "already running")
    _show(status)


@app.command()
def stop() -> None:
    """Stop the server (fast shutdown: open sessions are rolled back).

    Example: medz1 server stop
    """
    stopped = server(state.settings()).stop()
    out.print("stopped" if stopped else "not running")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show whether the server runs: pid, socket or port, PostgreSQL version, data directory.

    Exits 0 when it runs and 1 when it does not. Example: medz1 server status --json
    """
    current = server(state.settings()).status()
    if as_json:
        print_json(_as_dict(current))
    else:
        _show(current)
    if not current.running:
        raise typer.Exit(1)
