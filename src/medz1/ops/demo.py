"""Demo data for ``medz1 up --demo``: synthetic patients loaded as the loader role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from medz1.ai.demo import AiDemoReport
from medz1.ai.demo import prepare as prepare_ai_demo
from medz1.auth.demo import DemoUser, create_demo_users
from medz1.auth.passwords import PasswordHasher
from medz1.clinical.contract import clinical_table, conform
from medz1.clinical.load import LoadFile, TableLoad, load
from medz1.clinical.synthetic import generate
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.ops.schema_info import SchemaSummary, list_schemas
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

DEMO_PATIENTS = 100
DEMO_SEED = 1


@dataclass(frozen=True)
class DemoReport:
    """What ``--demo`` loaded (nothing when clinical data was already there)."""

    patients_before: int
    loads: list[TableLoad]


def demo_files(patients: int = DEMO_PATIENTS, *, seed: int = DEMO_SEED) -> list[LoadFile]:
    """Synthetic tables, checked like any data file, ready for :func:`load`.

    Args:
        patients: how many synthetic patients (every table holds rows of these only).
        seed: the generator's seed; the same seed gives the same rows.

    Returns:
        One checked file per clinical table, named ``demo:<table>``.
    """
    files = []
    for name, data in generate(patients, seed=seed).items():
        table = clinical_table(name)
        source = Path(f"demo:{name}")
        files.append(LoadFile(source, table, conform(data, table, source)))
    return files


def load_demo(target: Target, role_plan: RolePlan, *, patients: int = DEMO_PATIENTS) -> DemoReport:
    """Load the demo patients unless the database already holds patients.

    Args:
        target: the medz1 database, loaded as ``medz1_loader``.
        role_plan: the declared roles and their passwords.
        patients: how many synthetic patients to load.

    Returns:
        How many patients were there before, and the load of each table (none when the
        database already held patients).

    Raises:
        DataError: a generated row is refused (nothing is loaded).
        ConnectionFailedError: the server cannot be reached.
    """
    engine = engine_for_role(target, "loader", role_plan.passwords)
    try:
        with engine.connect() as conn:
            existing = int(
                conn.execute(text("SELECT count(*) FROM patient_demographics")).scalar_one()
            )
        if existing:
            return DemoReport(patients_before=existing, loads=[])
        return DemoReport(patients_before=0, loads=load(engine, demo_files(patients)))
    finally:
        engine.dispose()


def create_demo_clinicians(
    target: Target, role_plan: RolePlan, *, hasher: PasswordHasher
) -> list[DemoUser]:
    """Create the demo clinicians that are missing, as the application role, with their
    ``user_created`` audit rows; return them with their one-time passwords.

    Args:
        target: the medz1 database, written as ``med_z1_user``.
        role_plan: the declared roles and their passwords.
        hasher: hashes the generated passwords (argon2id, S1).

    Returns:
        The clinicians created by this call (an existing one is left alone and not
        returned), each with a password that is shown once and stored only as a hash.
    """
    engine = engine_for_role(target, "app", role_plan.passwords)
    try:
        with unit_of_work(engine) as session:
            return create_demo_users(session, hasher=hasher, now=datetime.now(UTC))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class DemoOutcome:
    """What ``up --demo`` added after ``up``: data, clinicians, and the schemas now.

    Attributes:
        data: The patients loaded (none when clinical data was already there).
        clinicians: The demo clinicians created now, with their one-time passwords (none
            when they existed already).
        schemas: Every medz1 schema after loading, for the summary.
        ai: The demo interaction pairs loaded and the charts embedded (docs/ai.md).
    """

    data: DemoReport
    clinicians: list[DemoUser]
    schemas: list[SchemaSummary]
    ai: AiDemoReport

    @property
    def changed(self) -> bool:
        """True when patients were loaded, clinicians created or AI demo data added."""
        return (
            bool(self.data.loads)
            or bool(self.clinicians)
            or bool(self.ai.interaction_pairs or self.ai.embeddings.embedded)
        )


def add_demo(
    target: Target, policy: RolePlan, *, hasher: PasswordHasher, patients: int = DEMO_PATIENTS
) -> DemoOutcome:
    """The ``up --demo`` sequence: load demo patients, create demo clinicians, load the demo
    interaction table and embed the charts, summarise.

    Each step is idempotent: patients load only into an empty clinical store (as
    ``medz1_loader``), clinicians are created only when missing (as the application role,
    each with its ``user_created`` audit row).

    Args:
        target: The medz1 database, already brought up by :func:`medz1.ops.up.up`.
        policy: The declared policy with the login roles' passwords.
        hasher: Hashes the clinicians' one-time passwords (argon2id, S1).
        patients: How many synthetic patients to load into an empty store.

    Raises:
        ConnectionFailedError: a role cannot connect.
        DataError: the generated data does not meet the loader's contract.
    """
    data = load_demo(target, policy, patients=patients)
    clinicians = create_demo_clinicians(target, policy, hasher=hasher)
    ai = prepare_ai_demo(target, policy)
    engine = make_engine(target.url)
    try:
        with translated(), engine.connect() as conn:
            schemas = list_schemas(conn)
    finally:
        engine.dispose()
    return DemoOutcome(data=data, clinicians=clinicians, schemas=schemas, ai=ai)
