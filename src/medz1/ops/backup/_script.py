"""Run the SQL script ``pg_restore`` writes inside medz1's own transaction.

``pg_restore --single-transaction`` owns its transaction, so nothing can run before or
after it in the same one. medz1 instead reads the script ``pg_restore --file=-`` prints and
sends it over its own connection: plain SQL as multi-statement queries, ``COPY ... FROM
stdin`` blocks through psycopg's COPY. Dropping cross-schema foreign keys, the restore,
re-creating them, the grants and the verification then commit together or not at all.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import IO, Any

import psycopg

from medz1.errors import DataError
from medz1.ops.backup._tools import Reporter

_CHUNK = 1 << 20
#: End of the data of one COPY block: a line holding only ``\.``.
_END = b"\\.\n"
#: psql meta-commands pg_restore adds around the script (they guard psql, not the server).
_META = (b"\\restrict ", b"\\unrestrict ")


class ScriptRunner:
    """Feeds a ``pg_restore`` script, chunk by chunk, into one psycopg connection."""

    def __init__(self, connection: psycopg.Connection[Any], reporter: Reporter) -> None:
        self._cursor = connection.cursor()
        self._reporter = reporter
        self._pending = b""
        self._sql: list[bytes] = []
        self._copy: psycopg.Copy | None = None
        self._stack = ExitStack()
        self._line_start = True

    def run(self, stream: IO[bytes]) -> None:
        """Execute the whole script read from ``stream``; abort a COPY in progress on error."""
        try:
            while chunk := stream.read(_CHUNK):
                self.feed(chunk)
            self.finish()
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def feed(self, chunk: bytes) -> None:
        """Process the next piece of the script."""
        data = self._pending + chunk if self._pending else chunk
        pos = 0
        while pos < len(data):
            if self._copy is None:
                end = data.find(b"\n", pos)
                if end < 0:
                    break
                self._sql_line(data[pos : end + 1])
                pos = end + 1
            else:
                moved = self._copy_data(data, pos)
                if moved == pos:
                    break
                pos = moved
        self._pending = data[pos:]

    def finish(self) -> None:
        """Execute what is left; refuse a script that ends inside a COPY block."""
        if self._pending and self._copy is None:
            self._sql_line(self._pending + b"\n")
            self._pending = b""
        if self._copy is not None or self._pending:
            raise DataError(
                "the archive's data ends in the middle of a table",
                hint="the archive is truncated or damaged; use another backup",
            )
        self._flush_sql()

    def _sql_line(self, line: bytes) -> None:
        if line.startswith(_META):
            return
        if line.startswith(b"COPY ") and line.endswith(b" FROM stdin;\n"):
            self._flush_sql()
            self._copy = self._stack.enter_context(self._cursor.copy(line[:-2]))
            self._line_start = True
            return
        self._sql.append(line)

    def _flush_sql(self) -> None:
        lines, self._sql = self._sql, []
        if any(line.strip() and not line.lstrip().startswith(b"--") for line in lines):
            self._cursor.execute(b"".join(lines))

    def _copy_data(self, data: bytes, pos: int) -> int:
        """Send COPY data from ``pos``; return how far it got (``pos`` when it needs more)."""
        assert self._copy is not None
        if self._line_start and data.startswith(_END, pos):
            self._end_copy()
            return pos + len(_END)
        end = data.find(b"\n" + _END, pos)
        if end >= 0:
            self._copy.write(memoryview(data)[pos : end + 1])
            self._end_copy()
            return end + 1 + len(_END)
        # Keep back what could be the start of the end marker until more data arrives.
        safe = len(data) - len(_END)
        if safe <= pos:
            return pos
        self._copy.write(memoryview(data)[pos:safe])
        self._line_start = data[safe - 1 : safe] == b"\n"
        return safe

    def _end_copy(self) -> None:
        self._stack.close()
        self._copy = None
        self._reporter.advance()
