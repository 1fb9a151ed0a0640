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


def _write(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` as a new file renamed over the old one.

    An existing file is replaced only when it is a data dictionary medz1 generated (its
    first line is the generated title) or with ``force``; a symbolic link is never
    written through.

    Raises:
        UsageError: ``path`` is a link, a folder, another file (without ``force``), its
            folder does not exist, or it cannot be written.
    """
    import os

    from medz1.ops.paths import create_new_file, refuse_link

    refuse_link(path, option="--out")
    if path.exists() and not path.is_file():
        raise UsageError(
            f"cannot write {path}: not a regular file",
            hint="pass --out a file's path, e.g. docs/data-dictionary.md",
        )
    if path.exists() and not force and not _generated(path, text):
        raise UsageError(
            f"cannot write {path}: it exists and is not a data dictionary medz1 generated",
            hint="give --out a new file's path, or add --force to replace it",
        )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = create_new_file(temporary, option="--out", mode=0o644)
    except UsageError as exc:
        raise UsageError(
            f"cannot write {path}: {_reason(exc.__cause__) if exc.__cause__ else exc}",
            hint="pass --out a file in an existing folder you may write, "
            "e.g. docs/data-dictionary.md",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        temporary.replace(path)  # rename() replaces a link itself, never its target
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {path}: {_reason(exc)}",
            hint="pass --out a file in an existing folder you may write, "
            "e.g. docs/data-dictionary.md",
        ) from exc


def _generated(path: Path, text: str) -> bool:
    """True when ``path`` starts with the first line of a generated dictionary."""
    title = text.partition("\n")[0]
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == title
    except (OSError, UnicodeDecodeError):
        return False


def _unchanged(path: Path, text: str) -> bool:
    """True when ``path`` already holds ``text`` (False when it cannot be read as text)."""
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return "not UTF-8 text"


@app.command()
def dictionary(
    ctx: typer.Context,
    out: str = typer.Option(None, "--out", help="Write to this file (default: print to stdout)."),
    check: bool = typer.Option(False, "--check", help="Fail if --out differs from the models."),
    force: bool = typer.Option(
        False, "--force", help="Replace an --out file that is not a generated dictionary."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate the data dictionary from the models' table and column comments.

    --out replaces only a dictionary medz1 generated (or any regular file with --force),
    never writes through a symbolic link, and refuses an empty path.

    Example: medz1 docs dictionary --out docs/data-dictionary.md
    """
    if check and out is None:
        raise UsageError("--check compares a file: it needs --out", hint="add --out FILE")
    from medz1.ops.paths import given_path

    out_path = None if out is None else given_path(out, option="--out")
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
            _write(out_path, text, force=force)
    if as_json:
        c.print_json({"path": str(out_path), "changed": changed})
    elif changed:
        c.print(f"wrote {out_path}")
    else:
        c.nothing_to_do(f"{out_path} is up to date")
