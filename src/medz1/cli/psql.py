"""``medz1 psql``: the bundled psql on the medz1 database, like Django's ``dbshell``."""

from __future__ import annotations

import os
import shutil

import typer

from medz1.cli.context import policy, state, target
from medz1.embedded import binary
from medz1.errors import UsageError
from medz1.ops.backup._tools import hosts_and_ports
from medz1.provision.connect import resolve_role, role_url
from medz1.provision.policy import OWNER


def psql(
    role: str = typer.Option(
        None, "--role", help="Connect as a medz1 role: app, reporting, loader or auditor."
    ),
    args: list[str] = typer.Argument(None, help="Extra psql arguments, after --."),
) -> None:
    """Open psql on the medz1 database (as the administrator, or as a medz1 role).

    Example: medz1 psql -- -c 'select count(*) from patient_demographics'
    """
    settings = state.settings()
    where = target(settings)
    url = where.url
    if role is not None:
        name = resolve_role(role)
        if name == OWNER:
            raise UsageError(
                f"{OWNER} cannot log in", hint="leave out --role to connect as the administrator"
            )
        password = policy(settings).passwords.get(name)
        if password is None:
            raise UsageError(f"no password is known for {name}", hint="run `medz1 up` first")
        url = role_url(where, name, password)
    program = shutil.which("psql") if not where.embedded else None
    executable = str(program or binary("psql"))
    env = dict(os.environ)
    # The password goes through the environment, never on the command line.
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    env.update(
        {
            "PGHOST": hosts_and_ports(url)[0] or "",
            "PGPORT": hosts_and_ports(url)[1] or "5432",
            "PGUSER": str(url.username or ""),
            "PGDATABASE": str(url.database),
        }
    )
    os.execve(executable, [executable, *(args or [])], env)  # noqa: S606 - replaces this process
