"""``medz1 check``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from medz1.cli.common import JSON_OPTION, CliContext, cli_context

if TYPE_CHECKING:
    from medz1.ops.distribution import DistributionReport


def check(
    ctx: typer.Context,
    as_json: bool = JSON_OPTION,
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
    and grants against the declared role plan. Exits 0 when all match, 5 and one line per
    difference otherwise, whether the server is stopped, unreachable or reachable
    (--json prints the same shape in every case). Example: medz1 check

    With --citus-ready, lists instead every patient table, key, constraint or index that
    would keep the schema from being distributed by patient_key (exit 5 when there is one),
    and the tables that would be reference tables. Example: medz1 check --citus-ready
    """
    from medz1.errors import ServerError
    from medz1.ops.check import CheckReport, Finding
    from medz1.ops.check import check as run_check

    c = cli_context(ctx)
    if citus_ready:
        from medz1.ops.distribution import citus_readiness

        _print_citus(c, citus_readiness(c.target()), as_json=as_json)
        return
    role_plan = c.role_plan()
    try:
        where = c.target()
    except ServerError as exc:  # the embedded server is stopped: one failed finding
        report = CheckReport([Finding("server", False, str(exc))])
    else:
        report = run_check(where, role_plan)
    if as_json:
        c.print_json(
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
            c.print(f"{mark} {finding.name}: {finding.detail}")
            for difference in finding.differences:
                c.print(f"     - {difference}")
        c.print(
            "all checks passed" if report.ok else f"{len(report.differences)} difference(s) found"
        )
    if not report.ok:
        raise typer.Exit(5)


def _print_citus(c: CliContext, report: DistributionReport, *, as_json: bool) -> None:
    if as_json:
        c.print_json(
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
            c.print(f"not ready: {problem}")
        c.print(f"distributed by patient_key (co-located): {', '.join(report.distributed)}")
        c.print(f"reference tables: {', '.join(report.reference)}")
        c.print(f"coordinator only: {', '.join(report.coordinator)}")
        c.print(
            "ready to distribute by patient_key"
            if report.ready
            else f"{len(report.problems)} object(s) do not include patient_key"
        )
    if not report.ready:
        raise typer.Exit(5)
