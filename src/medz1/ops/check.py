"""``medz1 check``: does the database still match what medz1 declares?"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from medz1.auth.passwords import hash_meets_floor, identify_scheme
from medz1.db.engine import make_engine
from medz1.db.errors import translate
from medz1.db.target import Target
from medz1.errors import Medz1Error
from medz1.models import SCHEMAS
from medz1.ops import migrate
from medz1.ops.compare import schema_differences
from medz1.ops.database import database_exists, missing_extensions
from medz1.ops.grants import check_grants
from medz1.provision import activity, catalog, slots
from medz1.provision.credentials import RolePlan


@dataclass(frozen=True)
class Finding:
    """One checked property: ``ok`` and a one-line detail, plus each difference found."""

    name: str
    ok: bool
    detail: str
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckReport:
    """All findings of one check run."""

    findings: list[Finding]

    @property
    def ok(self) -> bool:
        """True when every finding passed."""
        return all(f.ok for f in self.findings)

    @property
    def differences(self) -> list[str]:
        """Every difference of every failed finding."""
        return [d for f in self.findings if not f.ok for d in (f.differences or [f.detail])]


def _reach(target: Target) -> Finding:
    try:
        exists = database_exists(target)
    except Medz1Error as exc:
        return Finding("server", ok=False, detail=exc.message)
    if not exists:
        return Finding(
            "database",
            ok=False,
            detail=f"database {target.database} does not exist (run `medz1 up`)",
        )
    return Finding("server", ok=True, detail=f"reachable; database {target.database} exists")


def catalog_finding(conn: Connection, role_plan: RolePlan | None = None) -> Finding:
    """The declared catalog compared with the database (row security as ``policy`` scopes it).

    Args:
        conn: an administrator connection to the medz1 database.
        role_plan: the declared roles; its matrix says whether station scoping (the row
            security policies of migration 0010) is on. None compares the catalog as
            declared with scoping on.

    Returns:
        The ``catalog`` finding; its differences name each object that differs.
    """
    schemas = tuple(SCHEMAS)
    want = catalog.declared()
    if role_plan is not None and not role_plan.matrix.station_scoping:
        # MEDZ1_STATION_SCOPING=off: the snapshot's tables keep FORCE, without ENABLE.
        want["row_security"] = {
            name: {**state, "enabled": False} for name, state in want["row_security"].items()
        }
    found = catalog.differences(
        want,
        catalog.snapshot(conn, schemas),
        shadowing=catalog.shadowing_functions(conn, schemas),
    )
    return Finding(
        "catalog",
        not found,
        "functions, triggers, CHECK constraints, row security and other objects as declared"
        if not found
        else f"{len(found)} difference(s) from the declared catalog",
        found,
    )


def _password_hashes(conn: Connection) -> Finding:
    """S1: every stored hash is argon2id at or above the floor; only counts are reported."""
    if not conn.execute(text("SELECT to_regclass('auth.users') IS NOT NULL")).scalar():
        return Finding("passwords", ok=True, detail="no user table")
    legacy = weak = total = 0
    for stored in conn.execute(text("SELECT password_hash FROM auth.users")).scalars():
        total += 1
        if stored is None or identify_scheme(stored) != "argon2id":
            legacy += 1
        elif not hash_meets_floor(stored):
            weak += 1
    found = []
    if legacy:
        found.append(
            f"{legacy} user(s) with a legacy password hash (not argon2id; replaced at their "
            "next login)"
        )
    if weak:
        found.append(
            f"{weak} user(s) with an argon2id hash below the floor (m >= 19 MiB, t >= 2, p >= 1)"
        )
    detail = (
        f"all {total} stored hash(es) are argon2id at or above the S1 floor"
        if not found
        else "; ".join(found)
    )
    return Finding("passwords", not found, detail, found)


def _connections(conn: Connection) -> Finding:
    """S36: the login roles' limits fit the server's ordinary slots."""
    server = slots.server_slots(conn)
    limits = slots.actual_limits(conn)
    reason = slots.overcommit(limits, server)
    if reason is None:
        return Finding(
            "connections",
            ok=True,
            detail=f"login roles may hold {sum(limits.values())} of {server.ordinary} ordinary slots",
        )
    return Finding("connections", ok=False, detail=reason, differences=[reason])


def _sessions(conn: Connection, role_plan: RolePlan) -> Finding:
    """S26: no session runs or idles past its role's declared timeout."""
    found = [o.describe() for o in activity.overruns(conn, role_plan.specs)]
    return Finding(
        "sessions",
        not found,
        "no session past its role's timeouts"
        if not found
        else f"{len(found)} session(s) past their role's timeouts",
        found,
    )


def check(target: Target, role_plan: RolePlan | None = None) -> CheckReport:
    """Check server, database, migration revision, schema objects, extensions and grants.

    Also the declared catalog (functions, triggers, CHECK constraints, row security and
    every other object), stored password hashes against the S1 floor, and the login
    roles' connection limits against the server's slots (S36), and (with a role_plan)
    sessions running or idling past their role's declared timeouts (S26).

    Stops at the first finding that makes the later ones meaningless (no server, no
    database); otherwise reports every difference.

    Args:
        target: the server and database to check, reached as the administrator.
        role_plan: the declared roles and passwords; without it the role-specific checks
            (timeouts, station scoping) use the defaults.

    Returns:
        Every finding, in the order checked; ``ok`` is True when all passed. A server or
        database that cannot be reached is a failed finding, not an error.

    Raises:
        sqlalchemy.exc.DBAPIError: a driver error medz1 does not translate by SQLSTATE.
    """
    reach = _reach(target)
    if not reach.ok:
        return CheckReport([reach])
    findings = [reach]
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            current = migrate.current_revision(conn)
            head = migrate.head_revision()
            findings.append(
                Finding(
                    "migrations",
                    current == head,
                    f"at {current or 'no revision'}, newest is {head}"
                    + ("" if current == head else " (run `medz1 migrate upgrade`)"),
                )
            )
            differences = schema_differences(conn)
            findings.append(
                Finding(
                    "schema",
                    not differences,
                    "models and database identical"
                    if not differences
                    else f"{len(differences)} difference(s) between models and database",
                    differences,
                )
            )
            findings.append(catalog_finding(conn, role_plan))
            findings.append(_password_hashes(conn))
            findings.append(_connections(conn))
            if role_plan is not None:
                findings.append(_sessions(conn, role_plan))
        missing = missing_extensions(engine)
        findings.append(
            Finding(
                "extensions",
                not missing,
                "all present" if not missing else "missing: " + ", ".join(missing),
            )
        )
        if role_plan is not None:
            grants = check_grants(target, role_plan, other_databases=True)
            findings.append(
                Finding(
                    "grants",
                    not grants,
                    "roles, owners and privileges as declared"
                    if not grants
                    else f"{len(grants)} difference(s) from the declared matrix "
                    "(run `medz1 grants apply`)",
                    grants,
                )
            )
    except DBAPIError as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        findings.append(Finding("database", ok=False, detail=mapped.message))
    finally:
        engine.dispose()
    return CheckReport(findings)
