"""``medz1 flags list | show | set | enable | disable``: feature flags of the viewer.

Commands connect as the application role (``med_z1_user``), which may read, create and
change flags but never delete them; every change writes its ``flag_changed`` audit row in
the same transaction. ``disable`` engages a flag's kill switch (off for everyone, targets
included) and ``enable`` releases it, leaving the rest of the flag as it was.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from medz1.admin import flags
from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.provision.connect import engine_for_role

app = typer.Typer(
    help="Feature flags: list, show, set (create or change), enable, disable (kill switch).",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_KEY = typer.Argument(..., help="The flag key, e.g. ai.chart_summaries.")


@contextmanager
def _session() -> Iterator[Session]:
    """One transaction as the application role, committed at the end."""
    settings = state.settings()
    engine = engine_for_role(target(settings), "app", policy(settings).passwords)
    try:
        with translated(), unit_of_work(engine) as session:
            yield session
    finally:
        engine.dispose()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except (OSError, KeyError):
        return "cli"


def _state_text(flag: flags.Flag) -> str:
    if flag.killed:
        return "killed"
    return "on" if flag.enabled else "off"


def _print_flag(flag: flags.Flag) -> None:
    for key, value in flag.as_json().items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        out.print(f"{key}: {'-' if value is None else value}", markup=False)


@app.command("list")
def list_(as_json: bool = _JSON) -> None:
    """List every flag with its state, rollout and targets.

    Example: medz1 flags list --json
    """
    with _session() as session:
        found = flags.list_flags(session)
    if as_json:
        print_json([flag.as_json() for flag in found])
        return
    table = Table("flag", "state", "rollout %", "users", "stations", "version")
    for flag in found:
        table.add_row(
            flag.flag_key,
            _state_text(flag),
            str(flag.rollout_percent),
            str(len(flag.target_users)),
            ", ".join(sorted(flag.target_stations)) or "-",
            str(flag.version),
        )
    out.print(table)
    out.print(f"{len(found)} flag(s)")


@app.command()
def show(
    key: str = _KEY,
    user: str = typer.Option(None, "--user", help="Also evaluate the flag for this e-mail."),
    station: str = typer.Option(None, "--station", help="Also evaluate it at this station."),
    as_json: bool = _JSON,
) -> None:
    """Show one flag; with --user or --station, what it evaluates to and why.

    Example: medz1 flags show ai.chart_summaries --user greg.house@va.gov --station 508
    """
    with _session() as session:
        flag = flags.get_flag(session, key)
    evaluation = None
    if user is not None or station is not None:
        evaluation = flags.evaluate(flag, flag.flag_key, user, station)
    if as_json:
        data = flag.as_json()
        if evaluation is not None:
            data["evaluation"] = evaluation.as_json()
        print_json(data)
        return
    _print_flag(flag)
    if evaluation is not None:
        out.print(
            f"evaluation: {'on' if evaluation.value else 'off'} ({evaluation.reason}"
            + (f", {evaluation.error_code}" if evaluation.error_code else "")
            + ")",
            markup=False,
        )


@app.command("set")
def set_(
    key: str = _KEY,
    on: bool = typer.Option(None, "--on/--off", help="Turn the flag on or off."),
    rollout: str = typer.Option(
        None, "--rollout", help="Percentage of users (0-100, two decimals) it is on for."
    ),
    station: list[str] = typer.Option(
        None, "--station", help="Station (sta3n) it is always on at; repeat for more."
    ),
    user: list[str] = typer.Option(
        None, "--user", help="E-mail of a user it is always on for; repeat for more."
    ),
    clear_targets: bool = typer.Option(
        False, "--clear-targets", help="Remove every user and station target."
    ),
    description: str = typer.Option(None, "--description", help="What the flag controls."),
    as_json: bool = _JSON,
) -> None:
    """Create a flag or change it; --station and --user replace the targets given.

    Example: medz1 flags set ai.chart_summaries --on --rollout 10 --station 508
    """
    stations: list[str] | None = list(station) if station else None
    users: list[str] | None = list(user) if user else None
    if clear_targets:
        stations = stations or []
        users = users or []
    with _session() as session:
        change = flags.set_flag(
            session,
            key,
            enabled=on,
            rollout_percent=rollout,
            users=users,
            stations=stations,
            description=description,
            actor=_actor(),
        )
    _report(change, as_json, "created" if change.created else "changed")


def _report(change: flags.FlagChange, as_json: bool, verb: str) -> None:
    if as_json:
        print_json({**change.flag.as_json(), "changed": list(change.changed)})
        return
    flag = change.flag
    if not change.changed:
        out.print(f"{flag.flag_key} unchanged ({_state_text(flag)})", markup=False)
        return
    out.print(
        f"{verb} {flag.flag_key}: {_state_text(flag)}, rollout {flag.rollout_percent} %, "
        f"{len(flag.target_users)} user(s), {len(flag.target_stations)} station(s) "
        f"(version {flag.version})",
        markup=False,
    )


@app.command()
def enable(key: str = _KEY, as_json: bool = _JSON) -> None:
    """Release the kill switch: the flag again does what its settings say.

    Example: medz1 flags enable ai.chart_summaries
    """
    with _session() as session:
        change = flags.set_killed(session, key, killed=False, actor=_actor())
    _report(change, as_json, "released the kill switch of")


@app.command()
def disable(key: str = _KEY, as_json: bool = _JSON) -> None:
    """Engage the kill switch: the flag is off for everyone, targets included.

    Example: medz1 flags disable ai.chart_summaries
    """
    with _session() as session:
        change = flags.set_killed(session, key, killed=True, actor=_actor())
    _report(change, as_json, "killed")
