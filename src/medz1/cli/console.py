"""Consoles and small output helpers shared by the command modules."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (for scripts: ``--json``)."""
    out.print_json(json.dumps(data, default=str), highlight=False)
