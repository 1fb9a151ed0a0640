"""``medz1 settings list | get | set KEY VALUE``: system-wide settings of the viewer.

Every key is declared with a type and range (``medz1 settings list``); a value that does
not match is refused (exit 8) and nothing is written. Commands connect as the application
role; a change records who and when and writes a ``setting_changed`` audit row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, Col, actor, cli_context

if TYPE_CHECKING:
    from medz1.admin.system_settings import Setting

app = typer.Typer(
    help="System settings of the viewer: list, get, set KEY VALUE (typed and audited).",
    no_args_is_help=True,
)

_KEY = typer.Argument(..., help="The setting key, e.g. patients.search_page_size.")

#: Columns of ``settings list``: the key is never cut; who changed it goes first.
SETTING_COLUMNS = (
    Col("key", key=True),
    Col("value"),
    Col("type", drop=2),
    Col("default", drop=1),
    Col("changed by", drop=3),
)


def _setting_row(setting: Setting) -> list[str]:
    return [
        setting.key,
        repr(setting.value),
        setting.field.expected(),
        repr(setting.field.default),
        setting.updated_by or "-",
    ]


def _print_setting(c: CliContext, setting: Setting) -> None:
    c.print_fields(setting.as_json())


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List every setting: value, type, range, default.

    Example: medz1 settings list --json
    """
    from medz1.admin import system_settings

    c = cli_context(ctx)
    with c.role_session() as session:
        found = system_settings.list_settings(session)
    if as_json:
        c.print_json([setting.as_json() for setting in found])
        return
    c.table(SETTING_COLUMNS, [_setting_row(setting) for setting in found])
    c.note(f"{len(found)} setting(s)")


@app.command()
def get(ctx: typer.Context, key: str = _KEY, as_json: bool = JSON_OPTION) -> None:
    """Print one setting's value (its default when never set).

    Example: medz1 settings get patients.search_page_size
    """
    from medz1.admin import system_settings

    c = cli_context(ctx)
    with c.role_session() as session:
        setting = system_settings.get_setting(session, key)
    if as_json:
        c.print_json(setting.as_json())
    else:
        _print_setting(c, setting)


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: str = _KEY,
    value: str = typer.Argument(..., help="The new value, of the setting's type."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a setting; a value of the wrong type or out of range is refused (exit 8).

    A negative number is a value, not an option: medz1 settings set KEY -0.1.

    Example: medz1 settings set patients.search_page_size 50
    """
    from medz1.admin import system_settings

    c = cli_context(ctx)
    with c.role_session() as session:
        change = system_settings.set_setting_text(session, key, value, actor=actor())
    if as_json:
        c.print_json({**change.setting.as_json(), "changed": change.changed})
        return
    setting = change.setting
    if change.changed:
        c.print(f"set: {setting.key} = {setting.value!r}")
    else:
        c.nothing_to_do(f"{setting.key} was already {setting.value!r}")
