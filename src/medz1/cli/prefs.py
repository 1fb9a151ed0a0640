"""``medz1 prefs get EMAIL [KEY] | set EMAIL KEY VALUE``: a user's viewer preferences.

Every key is declared with a type and range; a value that does not match is refused
(exit 8) and nothing is written. Commands connect as the application role.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from medz1.admin import preferences
from medz1.auth import users
from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.provision.connect import engine_for_role

app = typer.Typer(
    help="A user's viewer preferences: get, set (typed by a declared schema).",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_USER = typer.Argument(..., help="The user's e-mail address or user id.")


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


def _print(values: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(values)
        return
    for key, value in values.items():
        out.print(f"{key}: {value}", markup=False)


@app.command()
def get(
    user: str = _USER,
    key: str = typer.Argument(None, help="One preference key (default: all)."),
    as_json: bool = _JSON,
) -> None:
    """Print a user's preferences (defaults for those never set).

    Example: medz1 prefs get greg.house@va.gov time_zone
    """
    with _session() as session:
        found = users.resolve_user(session, ident=user)
        values = preferences.get_preferences(session, user_id=found.user_id)
    if key is not None:
        field = preferences.field_of(key)
        values = {field.key: values[field.key]}
    _print(values, as_json)


@app.command("set")
def set_(
    user: str = _USER,
    key: str = typer.Argument(..., help="The preference key, e.g. time_zone."),
    value: str = typer.Argument(..., help="The new value, of the preference's type."),
    as_json: bool = _JSON,
) -> None:
    """Set one preference of a user; a value of the wrong type is refused (exit 8).

    Example: medz1 prefs set greg.house@va.gov time_zone America/Chicago
    """
    field = preferences.field_of(key)
    typed = field.parse(value)
    with _session() as session:
        found = users.resolve_user(session, ident=user)
        values = preferences.set_preferences(
            session, user_id=found.user_id, values={field.key: typed}
        )
    _print(values if as_json else {field.key: values[field.key]}, as_json)
