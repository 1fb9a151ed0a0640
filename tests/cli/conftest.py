"""Run the ``medz1`` command in-process and capture what it prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from medz1.cli.main import run


@dataclass
class Result:
    """Exit code and output of one command line."""

    code: int
    out: str
    err: str


Invoke = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Invoke:
    """``cli("schema", "list")`` runs ``medz1 schema list`` and returns its Result."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            run(list(args))
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code=code if isinstance(code, int) else 1, out=captured.out, err=captured.err)

    return invoke
