"""``medz1 prefs get EMAIL [KEY] | set EMAIL KEY VALUE``: a user's viewer preferences.

Every key is declared with a type and range; a value that does not match is refused
(exit 8) and nothing is written. Commands connect as the application role.
"""

from __future__ import annotations

import typer

from medz1.cli.common import JSON_OPTION, USER_ARGUMENT, CliContext, cli_context

app = typer.Typer(
    help="A user's viewer preferences: get, set (typed by a declared schema).",
    no_args_is_help=True,
)


def _print(c: CliContext, values: dict[str, object], as_json: bool) -> None:
    if as_json:
        c.print_json(values)
        return
    for key, value in values.items():
        c.print(f"{key}: {value}")


@app.command()
def get(
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    key: str = typer.Argument(None, help="One preference key (default: all)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print a user's preferences (defaults for those never set).

    Example: medz1 prefs get greg.house@va.gov time_zone
    """
    from medz1.admin import preferences
    from medz1.auth import users

    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        values = preferences.get_preferences(session, user_id=found.user_id)
    if key is not None:
        field = preferences.field_of(key)
        values = {field.key: values[field.key]}
    _print(c, values, as_json)


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    user: str = USER_ARGUMENT,
    key: str = typer.Argument(..., help="The preference key, e.g. time_zone."),
    value: str = typer.Argument(..., help="The new value, of the preference's type."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Set one preference of a user; a value of the wrong type is refused (exit 8).

    Example: medz1 prefs set greg.house@va.gov time_zone America/Chicago
    """
    from medz1.admin import preferences
    from medz1.auth import users

    field = preferences.field_of(key)
    typed = field.parse(value)
    c = cli_context(ctx)
    with c.role_session() as session:
        found = users.resolve_user(session, ident=user)
        values = preferences.set_preferences(
            session, user_id=found.user_id, values={field.key: typed}
        )
    _print(c, values if as_json else {field.key: values[field.key]}, as_json)
