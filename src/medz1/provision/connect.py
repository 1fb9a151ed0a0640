"""Engines for a named medz1 role: the application never connects as the owner or a superuser."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, event, make_url

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import ConfigurationError, UsageError
from medz1.provision.policy import OWNER, ROLE_ALIASES

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
    with ``SET ROLE`` on every new connection.
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
    url = target.url.set(username=name, password=password.get_secret_value())
    return make_engine(url, application_name=f"medz1:{role}", **kwargs)


def application_engine(
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
