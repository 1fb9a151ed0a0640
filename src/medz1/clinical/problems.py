"""How a refused data file is reported: by file, 1-based data row, column and reason.

A refusal names where the fault is and why, never the other cells of the row. A cell's
own value is shown only when it is a short number or ISO 8601 date or time: what a user
needs to fix. Other text (names, identifiers such as SSNs, free text) is never echoed,
since it can identify a patient (brief: no patient data in messages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medz1.errors import DataError

#: How many problems a refusal lists before it only counts.
SHOWN_PROBLEMS = 10
#: Text shown in a refusal: a number (one sign, one separator, an exponent) or an ISO
#: 8601 date or time. Not digit groups with dashes (an SSN, a phone number), not words.
_SHOWABLE = re.compile(
    r"[+-]?[0-9]*[.,]?[0-9]*(?:[eE][+-]?[0-9]+)?"
    r"|-?[0-9]{1,6}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]{1,18}(?:Z|[+-][0-9:]{2,5})?)?"
)


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be loaded."""

    row: int | None  # 1-based data row (not counting a CSV header), None for the whole file
    column: str | None
    reason: str

    def describe(self, path: Path) -> str:
        """``file: row N: column: reason``."""
        where = f"{path.name}" + (f": row {self.row:,}" if self.row is not None else "")
        return f"{where}: {self.column + ': ' if self.column else ''}{self.reason}"


@dataclass
class Problems:
    """Problems found in one file: the first few in full, and how many in all."""

    path: Path
    shown: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, problem: Problem, *, times: int = 1) -> None:
        """Record ``times`` occurrences, keeping the first one for the report.

        Args:
            problem: what is wrong, and where (file, row, column).
            times: how many rows have it.
        """
        self.count += times
        if len(self.shown) < SHOWN_PROBLEMS:
            self.shown.append(problem)

    def rows(
        self,
        mask: pa.Array | pa.ChunkedArray,
        column: str,
        reason: str,
        *,
        values: pa.Array | pa.ChunkedArray | None = None,
    ) -> int:
        """Record one problem per row where ``mask`` is true; return how many.

        Args:
            mask: Boolean per data row (nulls count as false).
            column: The column the rows are refused for.
            reason: Why, e.g. ``"is not a number"``; with ``values``, each shown row's own
                value leads the reason when :func:`shown` allows it.
            values: The column's cells, to show the offending one.
        """
        flat = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
        indices = pc.indices_nonzero(pc.fill_null(flat, fill_value=False))
        found = len(indices)
        if not found:
            return 0
        room = max(SHOWN_PROBLEMS - len(self.shown), 0)
        for index in indices.slice(0, room).to_pylist():
            text = reason
            value = None if values is None else shown(values[index].as_py())
            if value is not None:
                text = f"{value} {reason}"
            self.shown.append(Problem(index + 1, column, text))
        self.count += found
        return found

    def raise_if_any(self) -> None:
        """Refuse the file if anything was found.

        Raises:
            DataError: Listing the first problems and how many there are in all.
        """
        if self.count:
            lines = "; ".join(p.describe(self.path) for p in self.shown)
            more = (
                f" (and {self.count - len(self.shown):,} more)"
                if self.count > len(self.shown)
                else ""
            )
            raise DataError(
                f"{self.path.name} refused, {self.count:,} problem(s): {lines}{more}",
                hint="fix the file and load it again; nothing was changed",
            )


def shown(value: Any) -> str | None:
    """A cell as a refusal may show it: numbers and times, or None.

    Args:
        value: The offending cell (a Python value from Arrow).

    Returns:
        ``repr`` of the value when it is short and looks like a number or a time; None
        otherwise (text is never echoed: it may identify a patient).
    """
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, str):
        return repr(value) if 0 < len(value) <= 40 and _SHOWABLE.fullmatch(value) else None
    text = str(value)
    return text if len(text) <= 40 else None
