"""``medz1 grants apply | check | show``: the declared role and privilege matrix."""

from __future__ import annotations

import typer

from medz1.cli.common import JSON_OPTION, Col, cli_context

app = typer.Typer(help="Roles, grants and limits as one declared policy.", no_args_is_help=True)

#: One letter per privilege in ``grants show`` (PostgreSQL's aclitem letters where they
#: do not clash: ``m`` is MAINTAIN, PostgreSQL 17+); the legend is printed from this table.
LETTERS = {
    "SELECT": "S",
    "INSERT": "I",
    "UPDATE": "U",
    "DELETE": "D",
    "TRUNCATE": "T",
    "REFERENCES": "R",
    "TRIGGER": "G",
    "MAINTAIN": "m",
    "USAGE": "u",
    "CONNECT": "c",
    "TEMPORARY": "t",
    "CREATE": "C",
    "EXECUTE": "X",
}


def letter(privilege: str) -> str:
    """The one letter of ``privilege`` in ``grants show``; an unknown one in brackets whole."""
    return LETTERS.get(privilege.upper(), f"[{privilege}]")


@app.command()
def apply(
    ctx: typer.Context,
    rotate_passwords: bool = typer.Option(
        False,
        "--rotate-passwords",
        help="Set new passwords on the login roles (MEDZ1_*_PASSWORD, else generated), "
        "store them, and audit one change per role.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or repair roles, owners, grants, default privileges and limits (one transaction).

    Idempotent: a second run applies nothing. The password of an existing role is changed
    only with --rotate-passwords; a login role that exists with no password known here is
    refused (exit 2). Example: medz1 grants apply
    """
    from medz1.ops.database import existing_roles
    from medz1.ops.grants import apply_grants, apply_roles
    from medz1.provision.credentials import role_plan_from_settings
    from medz1.provision.declared import LOGIN_ROLES

    c = cli_context(ctx)
    where = c.target()
    declared = role_plan_from_settings(
        c.settings(),
        generate_passwords=True,
        existing_roles=existing_roles(where, LOGIN_ROLES),
        rotate_passwords=rotate_passwords,
    )
    roles = apply_roles(where, declared)
    report = apply_grants(where, declared, audit=True, earlier_changes=roles)
    total = len(roles) + len(report.repaired)
    if as_json:
        c.print_json(
            {
                "ok": not report.unrepairable,
                "applied": roles + report.repaired,
                "unrepairable": report.unrepairable,
            }
        )
    else:
        for line in roles + report.repaired:
            c.print(f"applied: {line}")
        for line in report.unrepairable:
            c.print(f"NOT repaired (needs a migration or a human): {line}")
        if total:
            c.print(f"{total} change(s) applied")
        else:
            c.nothing_to_do("grants as declared")
    if report.unrepairable:
        raise typer.Exit(5)


@app.command()
def check(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List every difference between the declared policy and the database; exit 5 if any.

    A grant (table, column, function, sequence, type, large object, parameter, WITH GRANT
    OPTION), role attribute, membership, setting or owner changed by hand shows up here,
    and so does PUBLIC's access to the server's postgres and template1 databases.
    Example: medz1 grants check
    """
    from medz1.ops.grants import check_grants

    c = cli_context(ctx)
    differences = check_grants(c.target(), c.role_plan(), other_databases=True)
    if as_json:
        c.print_json({"ok": not differences, "differences": differences})
    else:
        for line in differences:
            c.print(f"- {line}")
        c.print(f"{len(differences)} difference(s)" if differences else "0 differences")
    if differences:
        raise typer.Exit(5)


@app.command()
def show(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Print the declared matrix: objects down, roles across, one letter per privilege.

    The legend under the table names every letter used (m is MAINTAIN).
    Example: medz1 grants show
    """
    from medz1.provision.declared import FUNCTION_EXECUTE, LOGIN_ROLES, PUBLIC

    c = cli_context(ctx)
    declared = c.role_plan().matrix
    grantees = (*LOGIN_ROLES, PUBLIC)
    objects = [
        "database",
        *(f"schema:{s}" for s in declared.schemas),
        *(f"table:{t}" for t in declared.tables),
        *(f"function:{f}" for f in FUNCTION_EXECUTE),
    ]
    if as_json:
        c.print_json(
            {obj: {g: sorted(declared.privileges(g, obj)) for g in grantees} for obj in objects}
        )
        return
    used: set[str] = set()
    rows = []
    for obj in objects:
        cells = []
        for g in grantees:
            privileges = sorted(declared.privileges(g, obj))
            used.update(p.upper() for p in privileges)
            cells.append("".join(sorted(letter(p) for p in privileges)) or "-")
        rows.append([obj, *cells])
    c.table((Col("object", key=True), *(Col(g, key=True) for g in grantees)), rows)
    legend = ", ".join(f"{letter(p)} {p.lower()}" for p in sorted(used, key=letter))
    c.note(f"letters: {legend}")
    c.note("medz1_owner (no login) owns every object; PUBLIC holds nothing.")
    from medz1.provision.declared import role_specs

    names = sorted({f"{p.name} ({', '.join(p.roles)})" for p in declared.policies})
    c.note(
        f"Row security on {len(declared.row_security)} tables (clinical, per-patient ai), forced, "
        + ("enabled" if declared.station_scoping else "disabled (MEDZ1_STATION_SCOPING off)")
        + f"; policies: {', '.join(names)}; BYPASSRLS: "
        + ", ".join(s.name for s in role_specs() if s.bypassrls)
        + "."
    )
