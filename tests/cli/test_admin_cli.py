"""``medz1 flags``, ``medz1 settings`` and ``medz1 prefs`` against a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from medz1.auth import users
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from tests.cli.conftest import Invoke
from tests.db.admin_support import admin_state, audit_details
from tests.plugins.auth import PASSWORD, cheap_hasher
from tests.plugins.synthetic import app_engine

pytestmark = pytest.mark.db

EMAIL = "greg.house@va.example.org"


def _add_user(target: Target, role_plan: RolePlan, email: str = EMAIL) -> None:
    with app_engine(target, role_plan) as engine, unit_of_work(engine) as session:
        users.create_user(
            session,
            user=users.NewUser(email=email),
            password=PASSWORD,
            hasher=cheap_hasher(),
            now=datetime.now(UTC),
        )


def test_flags_set_show_disable_enable_list(
    cli: Invoke, db_target: Target, role_plan: RolePlan, database_url_env: str
) -> None:
    _add_user(db_target, role_plan)
    created = cli(
        "flags", "set", "ai.chart_summaries", "--off", "--station", "508", "--user", EMAIL,
        "--rollout", "12.5", "--json",
    )  # fmt: skip
    assert created.code == 0, created.err
    flag = json.loads(created.out)
    assert flag["enabled"] is False
    assert flag["rollout_percent"] == 12.5
    assert flag["target_users"] == [EMAIL]
    assert flag["target_stations"] == ["508"]
    shown = cli("flags", "show", "ai.chart_summaries", "--user", EMAIL, "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["evaluation"]["reason"] == "TARGETING_MATCH"
    assert cli("flags", "disable", "ai.chart_summaries").code == 0
    killed = json.loads(cli("flags", "show", "ai.chart_summaries", "--user", EMAIL, "--json").out)
    assert killed["killed"] is True
    assert killed["evaluation"]["value"] is False
    assert killed["evaluation"]["reason"] == "DISABLED"
    assert cli("flags", "enable", "ai.chart_summaries").code == 0
    changed = cli("flags", "set", "ai.chart_summaries", "--on", "--clear-targets", "--json")
    assert changed.code == 0, changed.err
    assert json.loads(changed.out)["target_users"] == []
    listed = cli("flags", "list", "--json")
    assert listed.code == 0, listed.err
    rows = json.loads(listed.out)
    assert [(r["flag_key"], r["enabled"], r["killed"]) for r in rows] == [
        ("ai.chart_summaries", True, False)
    ]
    plain = cli("flags", "list")
    assert "ai.chart_summaries" in plain.out


def _admin(target: Target) -> Engine:
    from medz1.db.engine import make_engine

    return make_engine(target.url)


_REFUSED: list[tuple[tuple[str, ...], int]] = [
    (("flags", "set", "a.b", "--on", "--rollout", "150"), 8),
    (("flags", "set", "a.b", "--on", "--rollout", "nan"), 8),
    (("flags", "set", "a.b", "--on", "--rollout", "1.005"), 8),
    (("flags", "set", "A B", "--on"), 8),
    (("flags", "set", "a.b", "--on", "--station", "five"), 8),
    (("flags", "set", "a.b", "--on", "--user", "nobody@va.example.org"), 6),
    (("flags", "set", "a.b", "--on", "--user", "not an address"), 8),
    (("flags", "set", "brand.new"), 2),
    (("flags", "show", "no.such"), 6),
    (("flags", "disable", "no.such"), 6),
    (("settings", "set", "patients.search_page_size", "true"), 8),
    (("settings", "set", "patients.search_page_size", "12.5"), 8),
    (("settings", "set", "patients.search_page_size", "5000"), 8),
    (("settings", "set", "viewer.maintenance_mode", "2"), 8),
    (("settings", "set", "ai.search_min_similarity", "inf"), 8),
    (("settings", "set", "no.such", "1"), 6),
    (("settings", "get", "no.such"), 6),
    (("prefs", "set", EMAIL, "time_zone", "Nowhere/City"), 8),
    (("prefs", "set", EMAIL, "patients.list_size", "ten"), 8),
    (("prefs", "set", EMAIL, "theme", "dark"), 6),
    (("prefs", "set", "nobody@va.example.org", "time_zone", "UTC"), 6),
    (("prefs", "get", "nobody@va.example.org"), 6),
]


def test_refused_commands_exit_with_their_code_and_write_nothing(
    cli: Invoke, db_target: Target, role_plan: RolePlan, database_url_env: str
) -> None:
    _add_user(db_target, role_plan)
    assert cli("flags", "set", "a.b", "--on").code == 0
    assert cli("settings", "set", "patients.search_page_size", "30").code == 0
    admin = _admin(db_target)
    try:
        before = admin_state(admin)
        for args, code in _REFUSED:
            result = cli(*args)
            assert result.code == code, (args, result.out, result.err)
            assert "Traceback" not in result.err
            assert admin_state(admin) == before, args
    finally:
        admin.dispose()


def test_settings_set_get_list(cli: Invoke, db_target: Target, database_url_env: str) -> None:
    changed = cli("settings", "set", "patients.search_page_size", "50", "--json")
    assert changed.code == 0, changed.err
    assert json.loads(changed.out)["value"] == 50
    got = json.loads(cli("settings", "get", "patients.search_page_size", "--json").out)
    assert got["value"] == 50
    assert got["updated_by"].startswith("cli")
    listed = json.loads(cli("settings", "list", "--json").out)
    by_key = {row["key"]: row for row in listed}
    assert by_key["patients.search_page_size"]["value"] == 50
    assert by_key["viewer.maintenance_mode"]["is_default"] is True
    assert "patients.search_page_size" in cli("settings", "list").out
    admin = _admin(db_target)
    try:
        assert [d["new_value"] for d in audit_details(admin, "setting_changed")] == [50]
    finally:
        admin.dispose()


def test_prefs_set_and_get(
    cli: Invoke, db_target: Target, role_plan: RolePlan, database_url_env: str
) -> None:
    _add_user(db_target, role_plan)
    assert cli("prefs", "set", EMAIL, "time_zone", "America/Chicago").code == 0
    assert cli("prefs", "set", EMAIL, "patients.list_size", "40").code == 0
    every = json.loads(cli("prefs", "get", EMAIL, "--json").out)
    assert every["time_zone"] == "America/Chicago"
    assert every["patients.list_size"] == 40
    assert every["vitals.default_range_days"] == 90
    one = cli("prefs", "get", EMAIL, "time_zone")
    assert one.code == 0, one.err
    assert one.out.strip() == "time_zone: America/Chicago"


@pytest.mark.parametrize(
    "command",
    [
        *(["flags", c] for c in ("list", "show", "set", "enable", "disable")),
        *(["settings", c] for c in ("list", "get", "set")),
        *(["prefs", c] for c in ("get", "set")),
    ],
)
def test_every_admin_command_has_help_with_an_example(cli: Invoke, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0
    assert f"Example: medz1 {command[0]} {command[1]}" in result.out
    assert "--json" in result.out


def test_a_change_that_changes_nothing_says_nothing_to_do(
    cli: Invoke, db_target: Target, database_url_env: str
) -> None:
    assert cli("flags", "set", "a.b", "--on").code == 0
    assert cli("settings", "set", "patients.search_page_size", "30").code == 0
    for args in (
        ("flags", "enable", "a.b"),
        ("flags", "set", "a.b", "--on"),
        ("settings", "set", "patients.search_page_size", "30"),
    ):
        again = cli(*args)
        assert again.code == 0, (args, again.err)
        assert again.out.startswith("nothing to do: "), (args, again.out)
    admin = _admin(db_target)
    try:
        assert len(audit_details(admin, "setting_changed")) == 1
    finally:
        admin.dispose()


def test_listings_print_every_key_whole_when_piped(cli: Invoke, database_url_env: str) -> None:
    from medz1.cli.flags import FLAG_COLUMNS
    from medz1.cli.system_settings import SETTING_COLUMNS

    assert cli("flags", "set", "viewer.a_rather_long_flag_key_that_is_kept_whole", "--on").code == 0
    for args, columns, key in (
        (("flags", "list"), FLAG_COLUMNS, "viewer.a_rather_long_flag_key_that_is_kept_whole"),
        (("settings", "list"), SETTING_COLUMNS, "patients.search_page_size"),
    ):
        result = cli(*args)
        assert result.code == 0, result.err
        header, *rows = result.out.splitlines()
        assert header.split("\t") == [c.name for c in columns]
        assert key in [row.split("\t")[0] for row in rows]
        assert all(len(row.split("\t")) == len(columns) for row in rows)
