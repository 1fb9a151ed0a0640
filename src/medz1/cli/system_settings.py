"""``medz1 settings list | get | set KEY VALUE``: system-wide settings of the viewer.

Every key is declared with a type and range (``medz1 settings list``); a value that does
not match is refused (exit 8) and nothing is written. Commands connect as the application
role; a change records who and when and writes a ``setting_changed`` audit row.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from medz1.admin import system_settings
from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.provision.connect import engine_for_role

app = typer.Typer(
    help="System settings of the viewer: list, get, set KEY VALUE (typed and audited).",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
_KEY = typer.Argument(..., help="The setting key, e.g. patients.search_page_size.")


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


def _print_setting(setting: system_settings.Setting) -> None:
    for key, value in setting.as_json().items():
        out.print(f"{key}: {'-' if value is None else value}", markup=False)


@app.command("list")
def list_(as_json: bool = _JSON) -> None:
    """List every setting: value, type, range, default.

    Example: medz1 settings list --json
    """
    with _session() as session:
        found = system_settings.list_settings(session)
    if as_json:
        print_json([setting.as_json() for setting in found])
        return
    for setting in found:
        changed = f", changed by {setting.updated_by}" if setting.updated_by else ""
        out.print(
            f"{setting.key} = {setting.value!r} ({setting.field.expected()}; "
            f"default {setting.field.default!r}{changed})",
            markup=False,
        )


@app.command()
def get(key: str = _KEY, as_json: bool = _JSON) -> None:
    """Print one setting's value (its default when never set).

    Example: medz1 settings get patients.search_page_size
    """
    with _session() as session:
        setting = system_settings.get_setting(session, key)
    if as_json:
        print_json(setting.as_json())
    else:
        _print_setting(setting)


@app.command("set")
def set_(
    key: str = _KEY,
    value: str = typer.Argument(..., help="The new value, of the setting's type."),
    as_json: bool = _JSON,
) -> None:
    """Change a setting; a value of the wrong type or out of range is refused (exit 8).

    Example: medz1 settings set patients.search_page_size 50
    """
    with _session() as session:
        change = system_settings.set_setting_text(session, key, value, actor=_actor())
    if as_json:
        print_json({**change.setting.as_json(), "changed": change.changed})
        return
    verb = "set" if change.changed else "unchanged"
    out.print(f"{verb}: {change.setting.key} = {change.setting.value!r}", markup=False)
