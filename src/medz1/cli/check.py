"""``medz1 check``."""

from __future__ import annotations

import typer

from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.ops.check import check as run_check


def check(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Check that the database matches what medz1 declares.

    Checks the server, the migration revision, every table, column, index and constraint
    (an Alembic comparison of models and database), the declared catalog (CHECK
    constraints, function definitions, triggers, row security, undeclared objects), stored
    password hashes against the argon2id floor (counts only), connection limits against
    the server's slots, sessions past their role's timeouts, the extensions, and the roles
    and grants against the declared policy. Exits 0 when all match, 5 and one line per
    difference otherwise. Example: medz1 check
    """
    settings = state.settings()
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
