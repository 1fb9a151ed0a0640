"""``medz1 check``."""

from __future__ import annotations

import typer

from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.ops.check import check as run_check
from medz1.ops.distribution import DistributionReport, citus_readiness


def check(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    citus_ready: bool = typer.Option(
        False,
        "--citus-ready",
        help="Only check that the schema can be distributed by patient_key (Citus).",
    ),
) -> None:
    """Check that the database matches what medz1 declares.

    Checks the server, the migration revision, every table, column, index and constraint
    (an Alembic comparison of models and database), the declared catalog (CHECK
    constraints, function definitions, triggers, row security, undeclared objects), stored
    password hashes against the argon2id floor (counts only), connection limits against
    the server's slots, sessions past their role's timeouts, the extensions, and the roles
    and grants against the declared policy. Exits 0 when all match, 5 and one line per
    difference otherwise. Example: medz1 check

    With --citus-ready, lists instead every patient table, key, constraint or index that
    would keep the schema from being distributed by patient_key (exit 5 when there is one),
    and the tables that would be reference tables. Example: medz1 check --citus-ready
    """
    settings = state.settings()
    if citus_ready:
        _print_citus(citus_readiness(target(settings)), as_json=as_json)
        return
    report = run_check(target(settings), policy(settings))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "findings": [
                    {"name": f.name, "ok": f.ok, "detail": f.detail, "differences": f.differences}
                    for f in report.findings
                ],
            }
        )
    else:
        for finding in report.findings:
            mark = "ok  " if finding.ok else "FAIL"
            out.print(f"{mark} {finding.name}: {finding.detail}", markup=False)
            for difference in finding.differences:
                out.print(f"     - {difference}", markup=False)
        out.print(
            "all checks passed" if report.ok else f"{len(report.differences)} difference(s) found",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(5)


def _print_citus(report: DistributionReport, *, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "ok": report.ready,
                "problems": list(report.problems),
                "distributed": list(report.distributed),
                "reference": list(report.reference),
                "coordinator": list(report.coordinator),
            }
        )
    else:
        for problem in report.problems:
            out.print(f"not ready: {problem}", markup=False)
        out.print(
            f"distributed by patient_key (co-located): {', '.join(report.distributed)}",
            markup=False,
        )
        out.print(f"reference tables: {', '.join(report.reference)}", markup=False)
        out.print(f"coordinator only: {', '.join(report.coordinator)}", markup=False)
        out.print(
            "ready to distribute by patient_key"
            if report.ready
            else f"{len(report.problems)} object(s) do not include patient_key",
            markup=False,
        )
    if not report.ready:
        raise typer.Exit(5)
