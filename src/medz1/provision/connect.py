"""Engines for a named medz1 role: the application never connects as the owner or a superuser."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, event, make_url
from sqlalchemy.engine import URL

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import ConfigurationError, UsageError
from medz1.provision.declared import OWNER, REPORTING, ROLE_ALIASES
from medz1.settings import Settings

_ALIAS_OF = {name: alias for alias, name in ROLE_ALIASES.items()}


def resolve_role(name: str) -> str:
    """A role name from an alias (``app``) or a full name (``med_z1_user``)."""
    if name in ROLE_ALIASES:
        return ROLE_ALIASES[name]
    if name in ROLE_ALIASES.values():
        return name
    raise UsageError(
        f"unknown role {name!r}",
        hint="use one of " + ", ".join(f"{a} ({r})" for a, r in ROLE_ALIASES.items()),
    )


def engine_for_role(
    target: Target, role: str, passwords: dict[str, SecretStr], **kwargs: Any
) -> Engine:
    """An engine that connects as ``role`` (alias or name).

    The owner cannot log in: its engine connects as the administrator and switches to it
    with ``SET ROLE`` on every new connection. The reporting role connects where
    :func:`role_url` says (``MEDZ1_REPORTING_URL`` when set).
    """
    name = resolve_role(role)
    if name == OWNER:
        engine = make_engine(target.url, application_name=f"medz1:{role}", **kwargs)
        statement = sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER)).as_string()

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(statement)
            dbapi_connection.commit()

        return engine
    password = passwords.get(name)
    if password is None:
        raise ConfigurationError(
            f"no password is known for role {name}",
            hint=f"set MEDZ1_{_ALIAS_OF[name].upper()}_PASSWORD, or run `medz1 up` to generate it",
        )
    return make_engine(role_url(target, name, password), application_name=f"medz1:{role}", **kwargs)


def role_url(target: Target, name: str, password: SecretStr) -> URL:
    """Where login role ``name`` connects: the medz1 database, or for the reporting role
    the server ``MEDZ1_REPORTING_URL`` names (its hosts, port, database and options; the
    user and password are always the role's own).
    """
    base = target.reporting_url if name == REPORTING and target.reporting_url else target.url
    return base.set(username=name, password=password.get_secret_value())


def application_engine(settings: Settings | None = None, **kwargs: Any) -> Engine:
    """A pooled engine of the application role (``med_z1_user``) on the medz1 database,
    as an application that reads charts and logs users in should connect.

    Where: ``MEDZ1_DATABASE_URL`` (an external server), else the bundled server of
    ``MEDZ1_DATA_DIR`` on its socket, or on 127.0.0.1:``MEDZ1_PORT`` when that is set (the
    way for an application that cannot reach the socket folder, e.g. a non-root process
    when the bundled server runs as root). The password is ``MEDZ1_APP_PASSWORD`` or the
    one ``medz1 up`` generated. Nothing connects until the engine is used; the bundled
    server is not started here (``medz1 up`` or ``medz1 server start`` does).

    Args:
        settings: medz1's settings; read from the ``MEDZ1_*`` environment when None.
        **kwargs: Passed to :func:`sqlalchemy.create_engine` (``pool_size``, ...).

    Raises:
        ConfigurationError: No password is known for the application role.
    """
    from medz1.embedded import SUPERUSER, EmbeddedServer
    from medz1.provision.credentials import role_plan_from_settings

    chosen = settings or Settings()
    if chosen.embedded:
        server = EmbeddedServer(chosen.data_dir, port=chosen.port)
        where = Target(url=server.url(chosen.database_name, user=SUPERUSER), embedded=True)
    else:
        where = Target(url=chosen.external_url(), embedded=False)
    passwords = role_plan_from_settings(chosen, generate_passwords=False).passwords
    return application_engine_at(where, passwords, chosen.pooler_url, **kwargs)


def application_engine_at(
    target: Target, passwords: dict[str, SecretStr], pooler_url: str | None, **kwargs: Any
) -> Engine:
    """The application role's engine: through PgBouncer at ``pooler_url`` when given
    (``MEDZ1_POOLER_URL``), else straight to ``target``.

    Behind a transaction-mode pooler, consecutive transactions of one client may run on
    different server connections, so nothing may outlive a transaction: psycopg's
    server-side prepared statements are turned off (``prepare_threshold=None``), and the
    station scope is set per transaction (``set_config(..., true)``). Statement timeouts
    are role settings, which every server connection of the role has.

    Raises:
        ConfigurationError: see :func:`engine_for_role`.
    """
    if pooler_url is None:
        return engine_for_role(target, "app", passwords, **kwargs)
    pooled = Target(url=make_url(pooler_url), embedded=False)
    connect_args = {**kwargs.pop("connect_args", {}), "prepare_threshold": None}
    return engine_for_role(pooled, "app", passwords, connect_args=connect_args, **kwargs)
