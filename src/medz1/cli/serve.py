"""``medz1 serve``: run the web service (uvicorn) on the medz1 database.

The bundled server is started first when medz1 uses it; each worker then builds the app
with :func:`medz1.api.create_app` and opens its engine as ``med_z1_user``.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import TYPE_CHECKING

import typer

from medz1.cli.common import cli_context
from medz1.errors import ServerError, UsageError

if TYPE_CHECKING:
    from medz1.settings import Settings


def _log_to_stderr() -> None:
    """One line per request and service error on stderr, in every worker process."""
    for name in ("medz1.access", "medz1.service"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def _factory() -> object:
    """The app for uvicorn's workers (each reads the settings and sets up its own logs).

    A worker started as a new process (``--workers`` above 1) inherits nothing installed
    by the command line: it installs the data directory's audit checkpoint log itself, so
    its views get their signed checkpoints too (S19).
    """
    _log_to_stderr()
    from medz1.api import create_app
    from medz1.auth import checkpoints
    from medz1.settings import load_settings

    settings = load_settings()
    if not checkpoints.has_provider():
        checkpoints.install(
            lambda: checkpoints.log_for(settings.data_path, settings.audit_key, create_key=True)
        )
    return create_app(settings)


def _check_address(host: str, port: int) -> None:
    """Fail before anything starts (the bundled server included): the address must be one
    this machine can listen on, and free.

    Raises:
        UsageError: the host is not an address or host name (a NUL, not IDNA-encodable).
        ServerError: the address cannot be listened on.
    """
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ServerError(
            f"cannot listen on {host}:{port}: {exc.strerror or type(exc).__name__}",
            hint="choose another --port, or stop what listens there",
        ) from None
    except (TypeError, UnicodeError) as exc:  # a NUL, or a name IDNA cannot encode
        raise UsageError(
            f"--host {host!r} is not an address or host name",
            hint="for example --host 127.0.0.1 or --host localhost",
        ) from exc


def _preflight(settings: Settings) -> None:
    """Fail before any worker starts: the database must be reachable.

    Raises:
        ConfigurationError: the application role's password is unknown.
        ConnectionFailedError: the database cannot be reached as ``med_z1_user``.
    """
    from sqlalchemy import text

    from medz1.api.app import open_service
    from medz1.db.errors import translated

    service = open_service(settings)
    try:
        with translated(), service.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        service.engine.dispose()


def _check_host(host: str) -> None:
    """Refuse an empty ``--host``: uvicorn would take it as every interface.

    Raises:
        UsageError: ``host`` is empty or blank.
    """
    if not host.strip():
        raise UsageError(
            "--host is empty (it would listen on every interface)",
            hint="give an address: --host 127.0.0.1, or --host 0.0.0.0 to listen on all",
        )


def _loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(
        ipaddress.ip_address(str(info[4][0]).partition("%")[0]).is_loopback for info in found
    )


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
) -> None:
    """Serve the patient pages and the JSON API.

    Example: medz1 up --demo && medz1 serve, then open http://127.0.0.1:8000
    """
    _check_host(host)
    try:
        import uvicorn
    except ImportError:
        raise UsageError(
            "the web service needs the api extra", hint="pip install 'medz1[api]'"
        ) from None
    c = cli_context(ctx)
    settings = c.settings()
    _check_address(host, port)  # before the bundled server starts: a bad address starts nothing
    if settings.embedded:
        c.server().start()
    _preflight(settings)
    if not _loopback(host):
        c.err.print(
            f"warning: --host {host} is not a loopback address: the viewer is reachable "
            "from the network (put it behind TLS and a firewall)",
            markup=False,
        )
    c.install_checkpoints()  # audit rows of an in-process worker get their checkpoints
    c.print(f"medz1 serving on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "medz1.cli.serve:_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # the service writes its own lines, without query strings
        log_level="warning",
        proxy_headers=False,
    )
