"""``medz1 check``: does the database still match what medz1 declares?"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from medz1.db.engine import make_engine
from medz1.db.errors import translate
from medz1.db.target import Target
from medz1.errors import Medz1Error
from medz1.ops import migrate
from medz1.ops.compare import schema_differences
from medz1.ops.database import database_exists, missing_extensions
from medz1.ops.grants import check_grants
from medz1.provision.credentials import Policy


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
        return Finding("server", False, exc.message)
    if not exists:
        return Finding(
            "database", False, f"database {target.database} does not exist (run `medz1 up`)"
        )
    return Finding("server", True, f"reachable; database {target.database} exists")


def check(target: Target, policy: Policy | None = None) -> CheckReport:
    """Check server, database, migration revision, schema objects, extensions and grants.

    Stops at the first finding that makes the later ones meaningless (no server, no
    database); otherwise reports every difference.
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
        missing = missing_extensions(engine)
        findings.append(
            Finding(
                "extensions",
                not missing,
                "all present" if not missing else "missing: " + ", ".join(missing),
            )
        )
        if policy is not None:
            grants = check_grants(target, policy)
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
        findings.append(Finding("database", False, mapped.message))
    finally:
        engine.dispose()
    return CheckReport(findings)
