"""``medz1 docs dictionary``: write or check the generated data dictionary."""

from __future__ import annotations

from pathlib import Path

import typer

from medz1.cli.common import JSON_OPTION, cli_context
from medz1.errors import CheckFailedError, UsageError

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


def _read(path: Path) -> str:
    """The current text of ``path`` ("" when it does not exist yet).

    Raises:
        UsageError: ``path`` is a folder, unreadable or not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read {path}: {_reason(exc)}",
            hint="pass --out a UTF-8 text file, e.g. docs/data-dictionary.md",
        ) from exc


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path``.

    Raises:
        UsageError: ``path`` is a folder, its folder does not exist, or it cannot be written.
    """
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {_reason(exc)}",
            hint="pass --out a file in an existing folder you may write, "
            "e.g. docs/data-dictionary.md",
        ) from exc


def _unchanged(path: Path, text: str) -> bool:
    """True when ``path`` already holds ``text`` (False when it cannot be read as text)."""
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return "not UTF-8 text"


@app.command()
def dictionary(
    ctx: typer.Context,
    out_path: Path = typer.Option(
        None, "--out", help="Write to this file (default: print to stdout)."
    ),
    check: bool = typer.Option(False, "--check", help="Fail if --out differs from the models."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate the data dictionary from the models' table and column comments.

    Example: medz1 docs dictionary --out docs/data-dictionary.md
    """
    if check and out_path is None:
        raise UsageError("--check compares a file: it needs --out", hint="add --out FILE")
    from medz1.models import metadata
    from medz1.ops.dictionary import render

    c = cli_context(ctx)
    text = render(metadata)
    if out_path is None:
        if as_json:
            c.print_json({"path": None, "markdown": text})
        else:
            c.out.print(text, markup=False, end="")
        return
    if check:
        if _read(out_path) != text:
            raise CheckFailedError(
                f"{out_path} is stale", hint=f"run `medz1 docs dictionary --out {out_path}`"
            )
        changed = False
    else:
        changed = not _unchanged(out_path, text)
        if changed:
            _write(out_path, text)
    if as_json:
        c.print_json({"path": str(out_path), "changed": changed})
    elif changed:
        c.print(f"wrote {out_path}")
    else:
        c.nothing_to_do(f"{out_path} is up to date")
