"""The medications page shows the drug-interaction panel only when the feature flag is on
for the logged-in user's station (station scoping on).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from medz1.admin.flags import set_flag
from medz1.ai.interactions import load_reference, prepare_reference
from medz1.ai.panel import INTERACTIONS_FLAG, flag_client
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.api.conftest import Site, logged_in
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db
HOME = "508"  # the home station of the clinicians Site.create_user makes


@pytest.fixture(scope="module")
def target_with_pair(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Target, str, tuple[str, str]]]:
    """Synthetic patients (scoping on), a reference pair made of two active medications
    of a patient of station 508; yields the target, that patient and the pair.
    """
    folder: Path = tmp_path_factory.mktemp("panel")
    with synthetic_database(
        pg_server, role_plan, folder, patients=40, seed=5, station_scoping=True
    ) as target:
        loader = engine_for_role(target, "loader", role_plan.passwords)
        try:
            with loader.connect() as conn:
                patient, meds = conn.execute(
                    text(
                        "SELECT m.patient_icn, array_agg(DISTINCT lower(m.generic_name) "
                        "ORDER BY lower(m.generic_name)) FROM patient_medications_outpatient m "
                        "JOIN patient_demographics d ON d.patient_key = m.patient_icn "
                        "WHERE d.primary_station = :s AND NOT d.is_sensitive AND m.is_active "
                        "AND (m.expiration_date IS NULL OR m.expiration_date > now()) "
                        "GROUP BY m.patient_icn HAVING count(DISTINCT m.generic_name) >= 2 "
                        "ORDER BY 1 LIMIT 1"
                    ),
                    {"s": HOME},
                ).one()
            reference = folder / "ddi.csv"
            reference.write_text(f"drug_a,drug_b,severity\n{meds[0]},{meds[1]},major\n")
            load_reference(loader, prepare_reference(reference))
        finally:
            loader.dispose()
        yield target, str(patient), (str(meds[0]), str(meds[1]))


def _flag(site: Site, **change: Any) -> None:
    with unit_of_work(site.service.engine) as session:
        set_flag(session, INTERACTIONS_FLAG, actor="test", **change)
    flag_client(site.service.engine).refresh(force=True)


def test_the_interaction_panel_follows_the_flag_for_the_users_station(
    target_with_pair: tuple[Target, str, tuple[str, str]],
    role_plan: RolePlan,
    site_factory: Any,
) -> None:
    target, patient, (drug_a, drug_b) = target_with_pair
    site: Site = site_factory(target, role_plan)
    logged_in(site)

    def page() -> str:
        answer = site.client.get(f"/patients/{patient}/medications")
        assert answer.status_code == 200, answer.text
        return str(answer.text)

    assert "Drug interactions" not in page()  # no such flag yet: off
    _flag(site, enabled=True)
    shown = page()
    assert "Drug interactions" in shown
    assert f"{drug_a} + {drug_b}" in shown
    _flag(site, enabled=False, stations=["640"])  # off; on for another station only
    assert "Drug interactions" not in page()
    _flag(site, stations=[HOME])  # off, but the user's station is a target
    assert "Drug interactions" in page()
    _flag(site, stations=[])
    assert "Drug interactions" not in page()
