"""``medz1 grants apply | check``: make the database match the declared role_plan, or list how
it differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from medz1.auth.audit import checkpoint_committed, record_grant_changes
from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import NotFoundError
from medz1.provision import apply as provision
from medz1.provision.cluster import require_role_admin
from medz1.provision.credentials import RolePlan
from medz1.provision.slots import require_fit

_MAX_PASSES = 3


@dataclass(frozen=True)
class GrantsReport:
    """What ``apply`` repaired, and what it could not (a human must decide)."""

    repaired: list[str]
    unrepairable: list[str]


def _require_medz1_database(conn: Connection, database: str) -> None:
    managed = conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    if not managed.scalar():
        raise NotFoundError(
            f"database {database} holds no medz1 schema (no migration revision)",
            hint="point MEDZ1_DATABASE_URL at a medz1 database, or run `medz1 up` to create one",
        )


def apply_roles(target: Target, role_plan: RolePlan) -> list[str]:
    """Create or repair the roles and hand the database to the owner (before migrations).

    Args:
        target: the server and database, reached as the administrator.
        role_plan: the declared roles, their passwords and connection limits.

    Returns:
        A description of each change made (names roles, never a password), for the
        ``grants_changed`` audit rows :func:`apply_grants` writes once the audit table
        exists.

    Raises:
        ConfigurationError: the roles' connection limits do not fit the server (S36).
    """
    engine = make_engine(target.url)
    try:
        with translated(), engine.begin() as conn:
            require_fit(conn, role_plan.specs)
            differences = provision.plan_roles(
                conn,
                role_plan.matrix,
                role_plan.specs,
                role_plan.passwords,
                rotate=role_plan.rotate,
                external=not target.embedded,
            )
            require_role_admin(conn, differences)
            return provision.execute(conn, differences)
    finally:
        engine.dispose()


def _audit(conn: Connection, target: Target, changes: list[str]) -> Session | None:
    """Record each applied change in the audit log, in the same transaction (S16).

    Returns the session that wrote them, for :func:`checkpoint_committed` after the commit.
    """
    if not changes:
        return None
    exists = conn.execute(text("SELECT to_regclass('auth.audit_logs') IS NOT NULL")).scalar()
    if not exists:
        return None
    session = Session(bind=conn)
    record_grant_changes(
        session, changes=changes, now=datetime.now(UTC), actor=target.url.username or None
    )
    session.flush()
    return session


def apply_grants(
    target: Target,
    role_plan: RolePlan,
    *,
    audit: bool = False,
    earlier_changes: list[str] | None = None,
) -> GrantsReport:
    """Repair every difference in one transaction: all of them are applied, or none.

    With ``audit``, every change, and ``earlier_changes`` (those ``apply_roles`` made
    before migrations, when there was no audit table yet), is written to the audit log
    as a ``grants_changed`` row in that same transaction (S16). On the embedded server
    PUBLIC's CONNECT and TEMPORARY on ``postgres`` and ``template1`` are revoked too.

    Args:
        target: the server and database, reached as the administrator.
        role_plan: the declared roles and the privilege matrix.
        audit: write the changes to ``auth.audit_logs`` (S16).
        earlier_changes: descriptions returned by :func:`apply_roles`, audited here too.

    Returns:
        The changes applied (empty when the database already matched).

    Raises:
        ConfigurationError: the roles' connection limits do not fit the server (S36).
        NotFoundError: the database holds no medz1 schema.
    """
    engine = make_engine(target.url)
    audited: Session | None = None
    try:
        with translated(), engine.begin() as conn:
            _require_medz1_database(conn, target.database)
            require_fit(conn, role_plan.specs)
            repaired: list[str] = []
            unrepairable: list[str] = []
            # Privileges are compared as PostgreSQL answers them (effective, PUBLIC
            # included), so revoking from PUBLIC can uncover a grant a role still needs:
            # plan again until nothing is left to repair. Passwords are compared and set
            # in the first pass only: an administrator who may not read pg_authid compares
            # them by logging in, which cannot see a password set in this transaction.
            for number in range(_MAX_PASSES):
                differences = provision.plan(
                    conn,
                    role_plan.matrix,
                    role_plan.specs,
                    role_plan.passwords if number == 0 else None,
                    other_databases="repair" if target.embedded else "skip",
                    rotate=role_plan.rotate,
                    external=not target.embedded,
                )
                require_role_admin(conn, differences)
                if number == 0:
                    unrepairable = [d.description for d in differences if d.repair is None]
                done = provision.execute(conn, differences)
                if not done:
                    break
                repaired.extend(done)
            if audit:
                audited = _audit(conn, target, [*(earlier_changes or []), *repaired])
        if audited is not None:
            checkpoint_committed(audited)  # the rows are committed: checkpoint them (S19)
        last = [d.description for d in differences if d.repair is None]
        return GrantsReport(
            repaired=repaired,
            unrepairable=list(dict.fromkeys([*unrepairable, *last])),
        )
    finally:
        engine.dispose()


def check_grants(
    target: Target,
    role_plan: RolePlan,
    *,
    other_databases: bool = False,
    compare_passwords: bool = True,
) -> list[str]:
    """Every difference between the declared role plan and the database; [] when they match.

    Read-only. Passwords are compared only when ``role_plan`` carries them.

    Args:
        target: the medz1 database.
        role_plan: the declared roles, matrix and (optionally) passwords.
        other_databases: also report what medz1's login roles may do on ``postgres`` and
            ``template1`` (``grants check`` and ``medz1 check`` do; a restore does not).
        compare_passwords: compare the passwords ``role_plan`` carries (a restore does not:
            passwords are not part of an archive, and a restore never sets them).

    Returns:
        One line per difference.
    """
    engine = make_engine(target.url)
    try:
        with translated(), engine.connect() as conn:
            _require_medz1_database(conn, target.database)
            differences = provision.plan(
                conn,
                role_plan.matrix,
                role_plan.specs,
                role_plan.passwords if compare_passwords else None,
                other_databases="report" if other_databases else "skip",
                external=not target.embedded,
            )
            conn.rollback()
        return [d.description for d in differences]
    finally:
        engine.dispose()
