"""``medz1 docs dictionary``: write or check the generated data dictionary."""

from __future__ import annotations

from pathlib import Path

import typer

from medz1.cli.console import out
from medz1.errors import CheckFailedError
from medz1.models import metadata
from medz1.ops.dictionary import render

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


@app.command()
def dictionary(
    out_path: Path = typer.Option(
        None, "--out", help="Write to this file (default: print to stdout)."
    ),
    check: bool = typer.Option(False, "--check", help="Fail if --out differs from the models."),
) -> None:
    """Generate the data dictionary from the models' table and column comments.

    Example: medz1 docs dictionary --out docs/data-dictionary.md
    """
    text = render(metadata)
    if out_path is None:
        out.print(text, markup=False, end="")
        return
    if check:
        current = out_path.read_text(encoding="utf-8") if out_path.exists() else ""
        if current != text:
            raise CheckFailedError(
                f"{out_path} is stale", hint=f"run `medz1 docs dictionary --out {out_path}`"
            )
        out.print(f"{out_path} is up to date")
        return
    out_path.write_text(text, encoding="utf-8")
    out.print(f"wrote {out_path}")
