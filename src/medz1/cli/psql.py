"""``medz1 psql``: the bundled psql on the medz1 database, like Django's ``dbshell``."""

from __future__ import annotations

import os
import shutil

import typer

from medz1.cli.common import cli_context
from medz1.errors import UsageError


def login_aliases() -> dict[str, str]:
    """The roles ``psql --role`` takes: alias to role name, login roles only (not the owner)."""
    from medz1.provision.declared import OWNER, ROLE_ALIASES

    return {alias: name for alias, name in ROLE_ALIASES.items() if name != OWNER}


def _login_role(role: str) -> str:
    """The login role named by ``role`` (alias or full name).

    Raises:
        UsageError: ``role`` is the owner (it cannot log in) or not a medz1 role; the hint
            lists only roles that ``--role`` accepts.
    """
    from medz1.provision.declared import OWNER, ROLE_ALIASES

    aliases = login_aliases()
    hint = "use one of " + ", ".join(f"{a} ({r})" for a, r in aliases.items())
    if role in aliases:
        return aliases[role]
    if role in aliases.values():
        return role
    if role in (OWNER, "owner") or ROLE_ALIASES.get(role) == OWNER:
        raise UsageError(
            f"{OWNER} cannot log in",
            hint="leave out --role to connect as the administrator, or " + hint,
        )
    raise UsageError(f"unknown role {role!r}", hint=hint)


def psql(
    ctx: typer.Context,
    role: str = typer.Option(
        None, "--role", help="Connect as a medz1 role: app, reporting, loader or auditor."
    ),
    args: list[str] = typer.Argument(None, help="Extra psql arguments, after --."),
) -> None:
    """Open psql on the medz1 database (as the administrator, or as a medz1 role).

    Example: medz1 psql -- -c 'select count(*) from patient_demographics'
    """
    from medz1.embedded import binary, clean_env
    from medz1.ops.backup._tools import hosts_and_ports
    from medz1.provision.connect import role_url

    c = cli_context(ctx)
    name = _login_role(role) if role is not None else None  # refused before connecting
    from medz1.provision.declared import REPORTING

    # reporting reads go to the standby when one is configured (MEDZ1_REPORTING_STANDBY)
    where = c.reporting_target() if name == REPORTING else c.target()
    url = where.url
    if name is not None:
        password = c.role_plan().passwords.get(name)
        if password is None:
            raise UsageError(f"no password is known for {name}", hint="run `medz1 up` first")
        url = role_url(where, name, password)
    program = shutil.which("psql") if not where.embedded else None
    executable = str(program or binary("psql"))
    hosts, ports = hosts_and_ports(url)
    env = clean_env()  # no PG* variable of the shell redirects psql
    # The password goes through the environment, never on the command line.
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    env.update(
        {
            "PGHOST": hosts or "",
            "PGPORT": ports or "5432",
            "PGUSER": str(url.username or ""),
            "PGDATABASE": str(url.database),
        }
    )
    c.close()
    os.execve(executable, [executable, *(args or [])], env)  # noqa: S606 - replaces this process
