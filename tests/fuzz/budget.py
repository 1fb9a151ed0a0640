"""How many inputs each fuzz test draws (S32: at least 10,000 fuzzed inputs in all).

``FULL`` is the run under the ``slow`` marker; ``FAST`` is the smaller run that is always
on. Most inputs go to paths that need no database (argument parsing, settings, file
contracts, manifest parsing); the database ones share one test database per test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: S32 asks for at least this many fuzzed inputs over one full run.
REQUIRED = 10_000

FULL: dict[str, int] = {
    "argv": 2_000,
    "argv_db": 300,
    "settings": 3_000,
    "loader_files": 2_000,
    "loader_db": 200,
    "manifest": 3_000,
    "login": 200,
}

FAST: dict[str, int] = {
    "argv": 300,
    "argv_db": 25,
    "settings": 200,
    "loader_files": 150,
    "loader_db": 15,
    "manifest": 150,
    "login": 20,
}

# Checked when any fuzz module is imported, so lowering the budget fails the run at once.
assert sum(FULL.values()) >= REQUIRED, f"the full fuzz run draws {sum(FULL.values())} inputs"

#: The exit codes medz1 documents: 0 and 2-8 (1 is "unexpected", never a refusal).
DOCUMENTED_CODES = frozenset({0, 2, 3, 4, 5, 6, 7, 8})


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of one fuzz run of ``examples`` inputs (no deadline: database).

    Under CI (``CI`` set) the inputs are derandomized, so a run's verdict does not depend
    on luck; elsewhere every run draws new inputs.
    """
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        database=None,
    )


class Drawn:
    """Counts the inputs a fuzz run really checked, to prove the run drew its budget."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        """Count one checked input."""
        self.count += 1
