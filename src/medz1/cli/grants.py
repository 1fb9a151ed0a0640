"""``medz1 grants apply | check | show``: the declared role and privilege matrix."""

from __future__ import annotations

import typer
from rich.table import Table

from medz1.cli.console import out, print_json
from medz1.cli.context import policy, state, target
from medz1.ops.database import existing_roles
from medz1.ops.grants import apply_grants, apply_roles, check_grants
from medz1.provision.credentials import policy_from_settings
from medz1.provision.policy import FUNCTION_EXECUTE, LOGIN_ROLES, PUBLIC, role_specs

app = typer.Typer(help="Roles, grants and limits as one declared policy.", no_args_is_help=True)

_LETTERS = {
    "SELECT": "S",
    "INSERT": "I",
    "UPDATE": "U",
    "DELETE": "D",
    "TRUNCATE": "T",
    "USAGE": "u",
    "CONNECT": "c",
    "TEMPORARY": "t",
    "CREATE": "C",
    "EXECUTE": "X",
}


@app.command()
def apply(
    rotate_passwords: bool = typer.Option(
        False,
        "--rotate-passwords",
        help="Set new passwords on the login roles (MEDZ1_*_PASSWORD, else generated), "
        "store them, and audit one change per role.",
    ),
) -> None:
    """Create or repair roles, owners, grants, default privileges and limits (one transaction).

    Idempotent: a second run applies nothing. The password of an existing role is changed
    only with --rotate-passwords; a login role that exists with no password known here is
    refused (exit 2). Example: medz1 grants apply
    """
    settings = state.settings()
    where = target(settings)
    declared = policy_from_settings(
        settings,
        generate_passwords=True,
        existing_roles=existing_roles(where, LOGIN_ROLES),
        rotate_passwords=rotate_passwords,
    )
    roles = apply_roles(where, declared)
    report = apply_grants(where, declared, audit=True, earlier_changes=roles)
    for line in roles + report.repaired:
        out.print(f"applied: {line}", markup=False)
    for line in report.unrepairable:
        out.print(f"NOT repaired (needs a migration or a human): {line}", markup=False)
    total = len(roles) + len(report.repaired)
    out.print(f"{total} change(s) applied" if total else "nothing to do: grants as declared")
    if report.unrepairable:
        raise typer.Exit(5)


@app.command()
def check(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List every difference between the declared policy and the database; exit 5 if any.

    A grant (table, column, function, sequence, type, large object, parameter, WITH GRANT
    OPTION), role attribute, membership, setting or owner changed by hand shows up here,
    and so does PUBLIC's access to the server's postgres and template1 databases.
    Example: medz1 grants check
    """
    settings = state.settings()
    differences = check_grants(target(settings), policy(settings), other_databases=True)
    if as_json:
        print_json({"ok": not differences, "differences": differences})
    else:
        for line in differences:
            out.print(f"- {line}", markup=False)
        out.print(f"{len(differences)} difference(s)" if differences else "0 differences")
    if differences:
        raise typer.Exit(5)


@app.command()
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Print the declared matrix: objects down, roles across.

    Letters: S select, I insert, U update, D delete, u usage, c connect, t temporary,
    X execute.
    Example: medz1 grants show
    """
    declared = policy(state.settings()).matrix
    grantees = (*LOGIN_ROLES, PUBLIC)
    objects = [
        "database",
        *(f"schema:{s}" for s in declared.schemas),
        *(f"table:{t}" for t in declared.tables),
        *(f"function:{f}" for f in FUNCTION_EXECUTE),
    ]
    if as_json:
        print_json(
            {obj: {g: sorted(declared.privileges(g, obj)) for g in grantees} for obj in objects}
        )
        return
    table = Table("object", *grantees)
    for obj in objects:
        cells = [
            "".join(sorted(_LETTERS.get(p, p) for p in declared.privileges(g, obj))) or "-"
            for g in grantees
        ]
        table.add_row(obj, *cells)
    out.print(table)
    out.print("medz1_owner (no login) owns every object; PUBLIC holds nothing.")
    names = sorted({f"{p.name} ({', '.join(p.roles)})" for p in declared.policies})
    out.print(
        f"Row security on {len(declared.row_security)} clinical tables, forced, "
        + ("enabled" if declared.station_scoping else "disabled (MEDZ1_STATION_SCOPING off)")
        + f"; policies: {', '.join(names)}; BYPASSRLS: "
        + ", ".join(s.name for s in role_specs() if s.bypassrls)
        + ".",
        markup=False,
    )
