"""The fuzz tests run the real command in-process, with the streams a console gives it."""

from __future__ import annotations

import io
import sys

import pytest

from medz1.cli.main import run
from tests.cli.conftest import Invoke, Result


def _stream(errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8", errors="replace")


@pytest.fixture
def cli() -> Invoke:
    """``cli("schema", "list")`` runs ``medz1 schema list`` and returns its Result.

    Unlike pytest's capture, the streams encode the way Python sets up a UTF-8 console
    (stdout ``surrogateescape``, stderr ``backslashreplace``), so an argument that is not
    UTF-8 (surrogate escapes) prints as it would for a person.
    """

    def invoke(*args: str) -> Result:
        out, err = _stream("surrogateescape"), _stream("backslashreplace")
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            with pytest.raises(SystemExit) as exited:
                run(list(args))
        finally:
            sys.stdout, sys.stderr = saved
        code = exited.value.code
        return Result(
            code=code if isinstance(code, int) else (0 if code is None else 1),
            out=_text(out),
            err=_text(err),
        )

    return invoke
