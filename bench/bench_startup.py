"""Start-up time of the ``medz1`` console script, measured in one run.

Run from the checkout: ``python -m bench.bench_startup [--runs 15] [--baseline SRC]``

Runs the installed console script itself (a new process each time, as a user would) for
``medz1 --version``, ``medz1 --help`` and ``medz1 server status`` (against a data directory
that holds no server, in a temporary folder: the command reads its settings and looks for
the server, then exits 1), and prints the median and the fastest wall time of each next to
a bare ``python -c pass`` start, which no command can beat. Goals on the development
machine: ``--version`` and ``--help`` at most 0.3 s, ``server status`` at most 0.6 s.
It also prints which heavy modules each command imported (none for these three).

``--baseline SRC`` also runs the same commands from another source tree (``SRC/medz1``, e.g.
an older checkout's ``src``) through this interpreter, interleaved with the rest, and
prints each median as a ratio of the baseline's, which holds up better than the absolute
figures on a machine busy with other work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Command lines measured, with their goal in seconds (None: the reference).
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("python -c pass", (), None),
    ("medz1 --version", ("--version",), 0.3),
    ("medz1 --help", ("--help",), 0.3),
    ("medz1 server status", ("server", "status"), 0.6),
)

#: Modules a start-up must not import (the reasons it once took 2.5 s).
HEAVY = ("pyarrow", "numpy", "sqlalchemy.orm", "pandas", "alembic")

_PROBE = (
    "import sys, runpy; sys.argv = ['medz1', *sys.argv[1:]]\n"
    "try:\n"
    "    from medz1.cli.main import run; run()\n"
    "except SystemExit:\n"
    "    pass\n"
    "finally:\n"
    "    print('\\nHEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
)


def console_script() -> str:
    """The installed ``medz1`` script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("medz1")
    if beside.exists():
        return str(beside)
    found = shutil.which("medz1")
    if found is None:
        raise SystemExit("the medz1 console script is not installed (pip install -e .)")
    return found


def time_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``argv`` (its output discarded)."""
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - the medz1 console script or this interpreter
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - started


def heavy_imports(args: tuple[str, ...], env: dict[str, str]) -> str:
    """The heavy modules the command imported, by running it once under a probe."""
    probe = _PROBE.format(heavy=HEAVY)
    done = subprocess.run(  # noqa: S603 - this interpreter on a fixed probe
        [sys.executable, "-c", probe, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        if line.startswith("HEAVY:"):
            return line.removeprefix("HEAVY:") or "none"
    return "?"


def main() -> None:
    """Measure every command ``--runs`` times, interleaved, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command")
    parser.add_argument("--baseline", type=Path, help="another source tree to compare with")
    options = parser.parse_args()
    script = console_script()
    runner = "import sys; sys.argv[0] = 'medz1'; from medz1.cli.main import run; run()"
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDZ1_")}
        env["MEDZ1_DATA_DIR"] = str(Path(folder) / "data")
        samples: dict[str, list[float]] = {name: [] for name, _, _ in COMMANDS}
        baseline: dict[str, list[float]] = {name: [] for name, args, _ in COMMANDS if args}
        old_env = dict(env)
        if options.baseline is not None:
            old_env["PYTHONPATH"] = str(options.baseline.resolve())
        for _ in range(options.runs):  # interleaved, so load changes hit every command alike
            for name, args, _goal in COMMANDS:
                argv = [sys.executable, "-c", "pass"] if not args else [script, *args]
                samples[name].append(time_once(argv, env))
                if args and options.baseline is not None:
                    old = [sys.executable, "-c", runner, *args]
                    baseline[name].append(time_once(old, old_env))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"console script {script}; {options.runs} runs each; load average {load:.1f}")
        print(
            f"{'command':<22} {'median s':>9} {'fastest s':>10} {'goal s':>7} "
            f"{'baseline s':>11} {'ratio':>6}  heavy imports"
        )
        for name, args, goal in COMMANDS:
            median = statistics.median(samples[name])
            fastest = min(samples[name])
            heavy = heavy_imports(args, env) if args else "-"
            goal_text = f"{goal:.1f}" if goal is not None else "-"
            old_median = statistics.median(baseline[name]) if baseline.get(name) else None
            old_text = f"{old_median:.3f}" if old_median else "-"
            ratio = f"{median / old_median:.2f}x" if old_median else "-"
            print(
                f"{name:<22} {median:>9.3f} {fastest:>10.3f} {goal_text:>7} "
                f"{old_text:>11} {ratio:>6}  {heavy}"
            )


if __name__ == "__main__":
    main()
