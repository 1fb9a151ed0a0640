"""Hypothesis strategies drawn from medz1's real command tree and its inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import typer
from hypothesis import strategies as st

from medz1.cli.main import app

#: Commands the argv fuzz never runs: ``psql`` replaces the test process with psql, and
#: ``demo generate`` writes as many patients as it is asked for (both still get --help).
NOT_RUN = frozenset({("psql",), ("demo", "generate")})


@dataclass(frozen=True)
class Command:
    """One leaf command: its path, option names and number of positional arguments."""

    path: tuple[str, ...]
    options: tuple[str, ...]
    flags: tuple[str, ...]
    arguments: int


def command_tree() -> list[Command]:
    """Every leaf command of ``medz1``, read from the Typer app itself."""
    found: list[Command] = []

    def walk(node: object, path: tuple[str, ...]) -> None:
        children = getattr(node, "commands", None)
        if children is not None:
            for name, child in children.items():
                walk(child, (*path, name))
            return
        options: list[str] = []
        flags: list[str] = []
        arguments = 0
        for param in getattr(node, "params", []):
            names = [*param.opts, *param.secondary_opts]
            if param.param_type_name == "argument":
                arguments += 1
            elif param.is_flag:
                flags.extend(names)
            else:
                options.extend(names)
        found.append(Command(path, tuple(options), tuple(flags), arguments))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = command_tree()
ALL_OPTIONS = sorted({o for c in COMMANDS for o in (*c.options, *c.flags)})

#: Values a person or a script might pass by mistake, and values meant to break parsers.
AWKWARD = (
    "",
    "-",
    "--",
    "/",
    "/nonexistent-medz1-fuzz/deeper/file",
    ".",
    "0",
    "-1",
    "+1",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775808",
    "2147483648",
    "0x10",
    "1_000",
    "[bold]x[/bold]",
    "[/]",
    "%s%n",
    "'; DROP TABLE auth.users; --",
    "auth.users",
    "public.patient_vitals",
    "pg_catalog.pg_authid",
    "patient_vitals",
    "auth",
    "head",
    "base",
    "-1",
    "0001",
    "a@b",
    "ICN100001",
    "00000000-0000-0000-0000-000000000000",
    "2024-13-45",
    "x\x00y",
    "\x00",
    "é" * 40,
    "\U0001d518\U0001d52b\U0001d526",  # letters outside the BMP
    "\u202e",
    "a" * 5000,
)


def _safe_path(value: str) -> str:
    # Commands may write where --out points; the test runs in a scratch folder, so keep
    # every drawn path inside it, except the two absolute ones above that cannot be written
    # ("/" is a folder; the other's folder does not exist).
    if value in ("/", "/nonexistent-medz1-fuzz/deeper/file"):
        return value
    if value.startswith(("/", "~")) or ".." in value:
        return "./" + value.lstrip("/~").replace("..", "_")
    return value


def _from_bytes(raw: bytes) -> str:
    # What Python makes of an argument that is not UTF-8 (surrogate escapes).
    return os.fsdecode(raw)


values = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(max_size=40),
    st.integers().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(str),
    st.binary(max_size=20).map(_from_bytes),
).map(_safe_path)


@st.composite
def argv(draw: st.DrawFn, commands: list[Command] | None = None) -> list[str]:
    """A command line: mostly a real command with its own options and random values."""
    pool = commands if commands is not None else COMMANDS
    command = draw(st.sampled_from(pool))
    head = list(command.path)
    if draw(st.integers(0, 9)) == 0:  # a group alone, a typo, or a global option
        head = draw(
            st.sampled_from(
                [head[:1], [head[0] + "x"], ["--version"], ["--verbose", *head], ["-h"], []]
            )
        )
    own = (*command.options, *command.flags, "--help")
    token = st.one_of(
        st.sampled_from(own),
        st.sampled_from(command.options).map(lambda o: o + "=") if command.options else values,
        st.sampled_from(ALL_OPTIONS),
        values,
    )
    tail: list[str] = []
    for _ in range(draw(st.integers(0, command.arguments + 4))):
        pair = draw(st.booleans())
        if command.options and pair:
            tail += [draw(st.sampled_from(command.options)), draw(values)]
        else:
            tail.append(draw(token))
    if command.path in NOT_RUN:
        # --help first, before any "--", so these commands only ever print their help.
        return [*command.path, "--help", *tail]
    return head + tail
