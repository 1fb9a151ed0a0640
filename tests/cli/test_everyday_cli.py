"""Everyday use of the command line: start-up imports, output nothing is cut from, where the
data directory is, one error format, ``--json`` everywhere, and small truths.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from sqlalchemy import text

from medz1.cli import audit as audit_cmd
from medz1.cli import flags as flags_cmd
from medz1.cli import grants as grants_cmd
from medz1.cli import patients as patients_cmd
from medz1.cli import schema as schema_cmd
from medz1.cli import sessions as sessions_cmd
from medz1.cli import system_settings as settings_cmd
from medz1.cli import users as users_cmd
from medz1.cli.common import CliContext, Col
from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from medz1.settings import find_data_dir, known_variables, unknown_variables
from tests.cli.conftest import Invoke, Result
from tests.plugins.auth import open_store

PASSWORD = "quiet harbor lamp at dawn"
#: An address longer than any column a 100-column terminal would give it.
LONG_EMAIL = "maria.fernanda.delacruz-santamaria.very-long-department-name@va.example.org"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """Make the next command line believe stdout is a terminal ``columns`` wide."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", str(columns))


def _lines(output: str) -> list[str]:
    return _ANSI.sub("", output).splitlines()


def _add_user(cli: Invoke, monkeypatch: pytest.MonkeyPatch, email: str) -> Result:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    result = cli("users", "add", email, "--first", "Maria", "--password-stdin", "--json")
    assert result.code == 0, result.err
    return result


# -- 1. start-up -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        None,
        ["--version"],
        ["--help"],
        ["users", "--help"],
        ["server", "--help"],
        ["server", "status"],
        ["flags", "--help"],
        ["settings", "list", "--help"],
        ["prefs", "set", "--help"],
    ],
)
def test_the_command_line_starts_without_pyarrow_numpy_or_the_orm(
    argv: list[str] | None, tmp_path: Path
) -> None:
    probe = (
        "import sys\n"
        "import medz1.cli.main as main\n"
        f"argv = {argv!r}\n"
        "if argv is not None:\n"
        "    try:\n"
        "        main.run(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pyarrow', 'numpy', 'sqlalchemy.orm', 'alembic', 'pandas')\n"
        "sys.stderr.write('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter on a fixed probe
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "MEDZ1_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.stderr.strip().splitlines()[-1] == "HEAVY:", done.stderr


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["server", "status"]])
def test_the_quickest_commands_import_no_sqlalchemy(argv: list[str], tmp_path: Path) -> None:
    """``--version``, ``--help`` and ``server status`` need no SQL toolkit at all (issue
    goal: 0.3 / 0.3 / 0.6 s); settings must not pull it in through the role declarations.
    """
    probe = (
        "import sys\n"
        "import medz1.cli.main as main\n"
        "try:\n"
        f"    main.run({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('SQLALCHEMY:' + str('sqlalchemy' in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter on a fixed probe
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "MEDZ1_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.stderr.strip().splitlines()[-1] == "SQLALCHEMY:False", done.stderr


# -- 2. nothing you need to copy is cut --------------------------------------------------


def _render(columns: tuple[Col, ...], rows: list[list[str]], width: int) -> list[str]:
    from rich.console import Console

    buffer = io.StringIO()
    c = CliContext()
    c.out = Console(
        file=buffer, width=width, force_terminal=True, color_system=None, soft_wrap=True
    )
    c.err = Console(file=io.StringIO(), width=width)
    c.table(columns, rows)
    return buffer.getvalue().splitlines()


def _long_row(columns: tuple[Col, ...]) -> list[str]:
    return [
        f"{c.name.replace(' ', '_')}-{uuid.uuid4()}-{'x' * 20}"
        if c.key
        else f"{c.name} with a fairly long value"
        for c in columns
    ]


@pytest.mark.parametrize(
    "columns",
    [
        users_cmd.USER_COLUMNS,
        sessions_cmd.SESSION_COLUMNS,
        audit_cmd.AUDIT_COLUMNS,
        schema_cmd.TABLE_COLUMNS,
        patients_cmd.SEARCH_COLUMNS,
        flags_cmd.FLAG_COLUMNS,
        settings_cmd.SETTING_COLUMNS,
    ],
    ids=[
        "users list",
        "sessions list",
        "audit tail",
        "schema tables",
        "patients search",
        "flags list",
        "settings list",
    ],
)
@pytest.mark.parametrize("width", [80, 100, 160])
def test_listings_never_cut_an_identifier_in_a_terminal(
    columns: tuple[Col, ...], width: int
) -> None:
    rows = [_long_row(columns), _long_row(columns)]
    shown = _render(columns, rows, width)
    for row in rows:
        for col, cell in zip(columns, row, strict=True):
            if col.key:
                assert any(cell in line for line in shown), (col.name, cell, shown)
    assert not any("…" in line for line in shown)


def test_a_listing_that_fits_keeps_every_column() -> None:
    columns = (Col("id", key=True), Col("note", drop=1))
    assert "note" in "".join(_render(columns, [["a", "b"]], 80))
    # Too narrow for both: the droppable column goes, the identifier stays whole.
    narrow = _render(columns, [["i" * 70, "n" * 30]], 80)
    assert "note" not in "".join(narrow)
    assert any("i" * 70 in line for line in narrow)


@pytest.mark.db
def test_schema_tables_shows_every_table_name_whole(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = cli("schema", "tables", "public")
    assert piped.code == 0, piped.err
    header, *rows = piped.out.splitlines()
    assert header.split("\t") == [c.name for c in schema_cmd.TABLE_COLUMNS]
    names = [row.split("\t")[0] for row in rows]
    medication = [n for n in names if n.startswith("public.patient_medication")]
    assert len(medication) >= 2
    assert len(set(medication)) == len(medication)
    _terminal(monkeypatch, 100)
    shown = "\n".join(_lines(cli("schema", "tables", "public").out))
    for name in names:
        assert name in shown


@pytest.mark.db
def test_users_list_and_audit_tail_never_cut_the_e_mail(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch, cheap_hashing: None
) -> None:
    _add_user(cli, monkeypatch, LONG_EMAIL)
    piped = cli("users", "list")
    assert piped.code == 0, piped.err
    assert f"{LONG_EMAIL}\t" in piped.out  # tab-separated, whole
    assert "1 user(s)" in piped.err  # the count is not mixed into the data
    for command in (("users", "list"), ("audit", "tail")):
        for columns in (80, 100):
            _terminal(monkeypatch, columns)
            result = cli(*command)
            assert result.code == 0, result.err
            assert any(LONG_EMAIL in line for line in _lines(result.out)), (command, columns)


@pytest.mark.db
def test_sessions_list_shows_ids_that_sessions_revoke_takes(
    cli: Invoke,
    database_url_env: str,
    db_target: Target,
    role_plan: RolePlan,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with open_store(db_target, role_plan) as store:
        store.create_user(LONG_EMAIL)
        assert store.attempt(LONG_EMAIL).ok
    _terminal(monkeypatch, 100)
    shown = _lines(cli("sessions", "list", "--all").out)
    ids = [m.group(0) for line in shown for m in re.finditer(r"[0-9a-f-]{36}", line)]
    assert len(ids) == 1
    assert any(LONG_EMAIL in line for line in shown)
    monkeypatch.delenv("TTY_COMPATIBLE")
    result = cli("sessions", "revoke", ids[0])
    assert result.code == 0, result.err


# -- 3. where the data is ----------------------------------------------------------------


def test_the_data_directory_is_found_in_a_parent_folder(tmp_path: Path) -> None:
    (tmp_path / "project" / ".medz1").mkdir(parents=True)
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_data_dir(deep) == tmp_path / "project" / ".medz1"
    assert find_data_dir(tmp_path / "project") == tmp_path / "project" / ".medz1"


def test_without_a_data_directory_above_the_per_user_folder_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    (tmp_path / "elsewhere").mkdir()
    assert find_data_dir(tmp_path / "elsewhere") == tmp_path / "user-data" / "medz1"


def test_server_status_from_a_subfolder_names_the_directory_found_above(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDZ1_DATA_DIR")
    (tmp_path / "project" / ".medz1").mkdir(parents=True)
    (tmp_path / "project" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "project" / "sub")
    result = cli("server", "status", "--json")
    assert result.code == 3
    assert json.loads(result.out)["data_dir"] == str(tmp_path / "project" / ".medz1")
    assert not (tmp_path / "project" / "sub" / ".medz1").exists()


@pytest.mark.parametrize(
    "command", [("schema", "list"), ("migrate", "current"), ("users", "list"), ("check",)]
)
def test_every_not_running_message_names_the_data_directory(
    cli: Invoke, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = cli(*command)
    assert result.code in (3, 5), result.err
    assert "not running" in result.out + result.err
    assert str(tmp_path / "data") in result.out + result.err


# -- 4. one error format -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["users", "add"], "medz1 users add --help"),
        (["users", "list", "--nosuch"], "medz1 users list --help"),
        (["patients", "search", "x", "--limit", "many"], "medz1 patients search --help"),
        (["frobnicate"], "medz1 --help"),
        (["backup", "restore", "x", "--schema"], "medz1 backup restore --help"),
    ],
)
def test_usage_errors_are_one_line_with_a_hint(cli: Invoke, argv: list[str], hint: str) -> None:
    result = cli(*argv)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert lines[0].endswith(f"(hint: see `{hint}`)")
    assert "Usage:" not in result.err + result.out


def test_input_ending_inside_a_command_is_an_error_line_not_aborted(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ended(_self: CliContext) -> None:
        raise EOFError

    monkeypatch.setattr(CliContext, "settings", ended)
    result = cli("server", "status")
    assert result.code == 2
    assert result.err.strip().startswith("error: input ended")
    assert "(hint: " in result.err
    assert "Aborted" not in result.err


def test_python_warnings_print_as_one_warning_line(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = CliContext.settings

    def warned(self: CliContext) -> object:
        warnings.warn("something looks odd", UserWarning, stacklevel=1)
        return original(self)

    monkeypatch.setattr(CliContext, "settings", warned)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = cli("server", "status")
    assert result.code == 3
    [line] = [line for line in result.err.splitlines() if "something looks odd" in line]
    assert line.startswith("warning: something looks odd (UserWarning; hint: ")
    assert __file__ not in result.err


@pytest.mark.db
@pytest.mark.parametrize(
    "argv",
    [["patients", "search", "smith\udcff"], ["audit", "tail", "--event", "login\udcff"]],
)
def test_an_argument_that_is_not_utf8_text_is_a_usage_error(
    cli: Invoke, database_url_env: str, argv: list[str]
) -> None:
    result = cli(*argv)
    assert result.code == 2, result.err
    assert result.err.startswith("error: an argument holds bytes that are not UTF-8 text")
    assert "unexpected" not in result.err


def _check_json(result: Result) -> dict[str, object]:
    assert result.code == 5, result.err
    data = json.loads(result.out)
    assert set(data) == {"ok", "findings"}
    assert data["ok"] is False
    for finding in data["findings"]:
        assert set(finding) == {"name", "ok", "detail", "differences"}
    return dict(data)


def test_check_json_has_one_shape_when_the_server_is_stopped(cli: Invoke, tmp_path: Path) -> None:
    data = _check_json(cli("check", "--json"))
    findings = data["findings"]
    assert isinstance(findings, list)
    assert findings[0]["name"] == "server"
    assert str(tmp_path / "data") in findings[0]["detail"]


def test_check_json_has_one_shape_when_the_server_is_unreachable(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/medz1")
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", "a-password-of-sixteen")
    data = _check_json(cli("check", "--json"))
    assert isinstance(data["findings"], list)
    assert data["findings"][0]["name"] == "server"


@pytest.mark.db
def test_check_json_has_one_shape_when_the_database_differs(
    cli: Invoke, database_url_env: str, db_target: Target
) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(db_target.url)
    with engine.begin() as conn:
        conn.execute(text("COMMENT ON TABLE auth.users IS 'changed by hand'"))
        conn.execute(text("GRANT SELECT ON auth.users TO PUBLIC"))
    engine.dispose()
    _check_json(cli("check", "--json"))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"MEMORY_KIB": "8", "PARALLELISM": "4"}, "MEDZ1_ARGON2_MEMORY_KIB"),
        ({"PARALLELISM": "65"}, "MEDZ1_ARGON2_PARALLELISM"),
        ({"TIME_COST": "0"}, "MEDZ1_ARGON2_TIME_COST"),
        ({"MEMORY_KIB": "lots"}, "MEDZ1_ARGON2_MEMORY_KIB"),
    ],
)
def test_bad_argon2_settings_are_refused_before_the_password_is_read(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], named: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(f"MEDZ1_ARGON2_{name}", value)
    stdin = io.StringIO(PASSWORD + "\n")
    monkeypatch.setattr("sys.stdin", stdin)
    result = cli("users", "add", "x@va.example.org", "--password-stdin")
    assert result.code == 2
    assert result.err.startswith("error: invalid configuration: ")
    assert named in result.err
    assert "HashParams" not in result.err
    assert stdin.tell() == 0  # refused before anything was read


def test_unknown_medz1_variables_are_warned_about_with_the_nearest_name(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZ1_ARGON2_MEMORY", "65536")
    monkeypatch.setenv("MEDZ1_ZZZZ", "1")
    result = cli("server", "status")
    assert result.code == 3
    assert (
        "warning: MEDZ1_ARGON2_MEMORY is not a medz1 setting and is ignored "
        "(hint: did you mean MEDZ1_ARGON2_MEMORY_KIB?)"
    ) in result.err
    assert "warning: MEDZ1_ZZZZ is not a medz1 setting" in result.err


def test_every_setting_is_a_known_variable() -> None:
    env = dict.fromkeys(known_variables(), "x")
    assert unknown_variables(env) == []
    assert unknown_variables({"MEDZ1_DATA_DIRR": "x"}) == [("MEDZ1_DATA_DIRR", "MEDZ1_DATA_DIR")]


# -- 5. --json everywhere, one wording for nothing to do ---------------------------------


@pytest.mark.db
@pytest.mark.parametrize(
    ("command", "key"),
    [(("up",), "changed"), (("grants", "apply"), "applied"), (("migrate", "upgrade"), "after")],
)
def test_commands_that_change_things_print_json_and_say_nothing_to_do_alike(
    cli: Invoke, database_url_env: str, command: tuple[str, ...], key: str
) -> None:
    result = cli(*command, "--json")
    assert result.code == 0, result.err
    assert key in json.loads(result.out)
    again = cli(*command)
    assert again.code == 0, again.err
    assert re.search(r"^nothing to do: ", again.out, re.MULTILINE), again.out


def test_demo_generate_prints_json(cli: Invoke, tmp_path: Path) -> None:
    result = cli("demo", "generate", "--patients", "2", "--out", str(tmp_path), "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["patients"] == 2
    assert {t["table"] for t in data["tables"]} >= {"patient_demographics", "patient_vitals"}


@pytest.mark.db
def test_backup_create_and_restore_print_json(
    cli: Invoke, database_url_env: str, tmp_path: Path
) -> None:
    created = cli("backup", "create", "--schema", "auth", "--out", str(tmp_path / "b"), "--json")
    assert created.code == 0, created.err
    backup = json.loads(created.out)
    assert backup["schemas"] == ["auth"]
    name = f"medz1_restore_{uuid.uuid4().hex[:8]}"
    restored = cli("backup", "restore", backup["path"], "--into", name, "--json")
    assert restored.code == 0, restored.err
    report = json.loads(restored.out)
    assert report["database"] == name
    assert report["differences"] == []
    cli_drop = cli("backup", "list-restores", "--json")
    assert cli_drop.code == 0


def test_docs_dictionary_says_nothing_to_do_when_the_file_is_current(
    cli: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "dictionary.md"
    assert cli("docs", "dictionary", "--out", str(path)).out.startswith("wrote ")
    assert cli("docs", "dictionary", "--out", str(path)).out.startswith("nothing to do: ")


# -- 6. small truths ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "medz1_owner", "nosuch"])
def test_psql_never_suggests_a_role_it_refuses(cli: Invoke, role: str) -> None:
    result = cli("psql", "--role", role)
    assert result.code == 2
    hint = result.err.split("(hint: ", 1)[1]
    suggested = re.findall(r"(\w+) \((\w+)\)", hint)
    assert suggested
    for alias, name in suggested:
        assert "owner" not in alias + name
        assert alias in ("app", "reporting", "loader", "auditor")


def test_grants_show_gives_every_privilege_one_letter_and_a_legend(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("grants", "show")
    assert result.code == 0, result.err
    _header, *rows = result.out.splitlines()
    legend_line = next(line for line in result.err.splitlines() if line.startswith("letters: "))
    legend = dict(item.split(" ", 1) for item in legend_line.removeprefix("letters: ").split(", "))
    cells = [cell for row in rows for cell in row.split("\t")[1:] if cell != "-"]
    assert cells
    for cell in cells:
        for char in cell:
            assert char in legend, (cell, legend)
    assert legend.get(grants_cmd.letter("MAINTAIN")) == "maintain"
    assert len(set(grants_cmd.LETTERS.values())) == len(grants_cmd.LETTERS)


@pytest.mark.db
def test_audit_tail_takes_an_e_mail_and_shows_the_reason_given(
    cli: Invoke, database_url_env: str, monkeypatch: pytest.MonkeyPatch, cheap_hashing: None
) -> None:
    _add_user(cli, monkeypatch, "house@va.example.org")
    _add_user(cli, monkeypatch, "wilson@va.example.org")
    disabled = cli("users", "disable", "house@va.example.org", "--reason", "left the VA")
    assert disabled.code == 0, disabled.err
    result = cli("audit", "tail", "--user", "HOUSE@va.example.org")
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    columns = header.split("\t")
    events = [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]
    assert len({e["user id"] for e in events}) == 1  # only the rows of the user named
    assert {e["event"] for e in events} >= {"user_created", "user_disabled"}
    [row] = [e for e in events if e["event"] == "user_disabled"]
    assert row["reason"] == "left the VA"
