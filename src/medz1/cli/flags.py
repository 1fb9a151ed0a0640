"""``medz1 flags list | show | set | enable | disable``: feature flags of the viewer.

Commands connect as the application role (``med_z1_user``), which may read, create and
change flags but never delete them; every change writes its ``flag_changed`` audit row in
the same transaction. ``disable`` engages a flag's kill switch (off for everyone, targets
included) and ``enable`` releases it, leaving the rest of the flag as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, actor, cli_context, station_option
from medz1.errors import UsageError

if TYPE_CHECKING:
    from medz1.admin.flags import Flag, FlagChange

app = typer.Typer(
    help="Feature flags: list, show, set (create or change), enable, disable (kill switch).",
    no_args_is_help=True,
)

_KEY = typer.Argument(..., help="The flag key, e.g. ai.chart_summaries.")

#: Columns of ``flags list``: the flag key is never cut; the station list goes first.
FLAG_COLUMNS = (
    Col("flag", key=True),
    Col("state"),
    Col("rollout %", justify="right"),
    Col("users", justify="right"),
    Col("stations", drop=1),
    Col("version", justify="right", drop=2),
)


def _state_text(flag: Flag) -> str:
    if flag.killed:
        return "killed"
    return "on" if flag.enabled else "off"


def _flag_row(flag: Flag) -> list[str]:
    return [
        flag.flag_key,
        _state_text(flag),
        str(flag.rollout_percent),
        str(len(flag.target_users)),
        ", ".join(sorted(flag.target_stations)) or "-",
        str(flag.version),
    ]


def _print_flag(c: CliContext, flag: Flag) -> None:
    fields = flag.as_json()
    c.print_fields(
        {k: ", ".join(v) or "-" if isinstance(v, list) else v for k, v in fields.items()}
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List every flag with its state, rollout and targets.

    Example: medz1 flags list --json
    """
    from medz1.admin import flags

    c = cli_context(ctx)
    with c.role_session() as session:
        found = flags.list_flags(session)
    if as_json:
        c.print_json([flag.as_json() for flag in found])
        return
    c.table(FLAG_COLUMNS, [_flag_row(flag) for flag in found])
    c.note(f"{len(found)} flag(s)")


@app.command()
def show(
    ctx: typer.Context,
    key: str = _KEY,
    user: str = typer.Option(None, "--user", help="Also evaluate the flag for this e-mail."),
    station: str = station_option("Also evaluate it at this station."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one flag; with --user or --station, what it evaluates to and why.

    Example: medz1 flags show ai.chart_summaries --user greg.house@va.gov --station 508
    """
    from medz1.admin import flags

    c = cli_context(ctx)
    with c.role_session() as session:
        flag = flags.get_flag(session, key)
    evaluation = None
    if user is not None or station is not None:
        evaluation = flags.evaluate(flag, flag.flag_key, user, station)
    if as_json:
        data = flag.as_json()
        if evaluation is not None:
            data["evaluation"] = evaluation.as_json()
        c.print_json(data)
        return
    _print_flag(c, flag)
    if evaluation is not None:
        c.print(
            f"evaluation: {'on' if evaluation.value else 'off'} ({evaluation.reason}"
            + (f", {evaluation.error_code}" if evaluation.error_code else "")
            + ")"
        )


@app.command("set")
def set_(
    ctx: typer.Context,
    key: str = _KEY,
    on: bool = typer.Option(False, "--on", help="Turn the flag on."),
    off: bool = typer.Option(False, "--off", help="Turn the flag off."),
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
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a flag or change it; --station and --user replace the targets given.

    Example: medz1 flags set ai.chart_summaries --on --rollout 10 --station 508
    """
    from medz1.admin import flags

    if on and off:
        raise UsageError("--on and --off contradict each other", hint="give one of them")
    stations: list[str] | None = list(station) if station else None
    users: list[str] | None = list(user) if user else None
    if clear_targets:
        stations = stations or []
        users = users or []
    c = cli_context(ctx)
    with c.role_session() as session:
        change = flags.set_flag(
            session,
            key,
            enabled=True if on else False if off else None,
            rollout_percent=rollout,
            users=users,
            stations=stations,
            description=description,
            actor=actor(),
        )
    _report(c, change, as_json, "created" if change.created else "changed")


def _report(c: CliContext, change: FlagChange, as_json: bool, verb: str) -> None:
    if as_json:
        c.print_json({**change.flag.as_json(), "changed": list(change.changed)})
        return
    flag = change.flag
    if not change.changed:
        c.nothing_to_do(f"{flag.flag_key} was already as asked ({_state_text(flag)})")
        return
    c.print(
        f"{verb} {flag.flag_key}: {_state_text(flag)}, rollout {flag.rollout_percent} %, "
        f"{len(flag.target_users)} user(s), {len(flag.target_stations)} station(s) "
        f"(version {flag.version})"
    )


@app.command()
def enable(ctx: typer.Context, key: str = _KEY, as_json: bool = JSON_OPTION) -> None:
    """Release the kill switch: the flag again does what its settings say.

    Example: medz1 flags enable ai.chart_summaries
    """
    from medz1.admin import flags

    c = cli_context(ctx)
    with c.role_session() as session:
        change = flags.set_killed(session, key, killed=False, actor=actor())
    _report(c, change, as_json, "released the kill switch of")


@app.command()
def disable(ctx: typer.Context, key: str = _KEY, as_json: bool = JSON_OPTION) -> None:
    """Engage the kill switch: the flag is off for everyone, targets included.

    Example: medz1 flags disable ai.chart_summaries
    """
    from medz1.admin import flags

    c = cli_context(ctx)
    with c.role_session() as session:
        change = flags.set_killed(session, key, killed=True, actor=actor())
    _report(c, change, as_json, "killed")
