"""System settings: typed by their declaration, every change recorded and audited, refused
values write nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from medz1.admin import system_settings
from medz1.admin.schema import InvalidValueError, UnknownKeyError
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import Medz1Error
from medz1.provision.credentials import RolePlan
from tests.db.admin_support import admin_state, audit_details
from tests.plugins.auth import Store, open_store

pytestmark = pytest.mark.db

ACTOR = "cli:tester"


@pytest.fixture
def store(db_target: Target, role_plan: RolePlan) -> Iterator[Store]:
    with open_store(db_target, role_plan) as opened:
        yield opened


def test_unset_settings_read_as_their_declared_defaults(store: Store) -> None:
    with unit_of_work(store.app) as session:
        listed = system_settings.list_settings(session)
    assert [s.key for s in listed] == sorted(system_settings.SETTINGS)
    for setting in listed:
        assert setting.value == setting.field.default
        assert setting.is_default


def test_a_change_records_who_and_when_and_enters_the_audit_chain(store: Store) -> None:
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    with unit_of_work(store.app) as session:
        first = system_settings.set_setting(
            session, "patients.search_page_size", 50, actor=ACTOR, now=at
        )
    with unit_of_work(store.app) as session:
        second = system_settings.set_setting_text(
            session, "patients.search_page_size", "75", actor="cli:other"
        )
        again = system_settings.set_setting(session, "patients.search_page_size", 75, actor=ACTOR)
    assert first.changed
    assert (first.setting.updated_at, first.setting.updated_by) == (at, ACTOR)
    assert second.changed
    assert not again.changed
    with store.admin.connect() as conn:
        row = conn.execute(
            text(
                "SELECT value, updated_by, updated_at FROM admin.system_settings "
                "WHERE setting_key = 'patients.search_page_size'"
            )
        ).one()
    assert (row.value, row.updated_by) == (75, "cli:other")
    assert row.updated_at > at
    details = audit_details(store.admin, "setting_changed")
    assert details == [
        {
            "setting_key": "patients.search_page_size",
            "old_value": 25,
            "new_value": 50,
            "actor": ACTOR,
        },
        {
            "setting_key": "patients.search_page_size",
            "old_value": 50,
            "new_value": 75,
            "actor": "cli:other",
        },
    ]
    with store.admin.connect() as conn:
        chained = conn.execute(
            text(
                "SELECT count(*) FROM auth.audit_logs WHERE event_type = 'setting_changed' "
                "AND row_hash IS NOT NULL AND chain_seq IS NOT NULL"
            )
        ).scalar()
    assert chained == 2
    with unit_of_work(store.app) as session:
        assert system_settings.value_of(session, "patients.search_page_size") == 75


def test_each_type_takes_its_values(store: Store) -> None:
    with unit_of_work(store.app) as session:
        system_settings.set_setting_text(session, "viewer.maintenance_mode", "TRUE", actor=ACTOR)
        system_settings.set_setting_text(session, "ai.search_min_similarity", "1", actor=ACTOR)
        system_settings.set_setting_text(
            session, "viewer.banner_message", "Downtime Sunday 02:00", actor=ACTOR
        )
    with unit_of_work(store.app) as session:
        values = {s.key: s.value for s in system_settings.list_settings(session)}
    assert values["viewer.maintenance_mode"] is True
    assert values["ai.search_min_similarity"] == 1.0
    assert isinstance(values["ai.search_min_similarity"], float)
    assert values["viewer.banner_message"] == "Downtime Sunday 02:00"


_REFUSED_VALUES: list[tuple[str, object, type[Medz1Error]]] = [
    ("patients.search_page_size", True, InvalidValueError),
    ("patients.search_page_size", 12.0, InvalidValueError),
    ("patients.search_page_size", "50", InvalidValueError),
    ("patients.search_page_size", 9, InvalidValueError),
    ("patients.search_page_size", 201, InvalidValueError),
    ("patients.search_page_size", None, InvalidValueError),
    ("ai.search_min_similarity", float("nan"), InvalidValueError),
    ("ai.search_min_similarity", float("inf"), InvalidValueError),
    ("ai.search_min_similarity", 1.5, InvalidValueError),
    ("viewer.maintenance_mode", 1, InvalidValueError),
    ("viewer.maintenance_mode", "true", InvalidValueError),
    ("viewer.banner_message", "x" * 501, InvalidValueError),
    ("viewer.banner_message", "bell\x07", InvalidValueError),
    ("viewer.banner_message", 5, InvalidValueError),
    ("no.such.setting", 1, UnknownKeyError),
]

_REFUSED_TEXT: list[tuple[str, str]] = [
    ("patients.search_page_size", "true"),
    ("patients.search_page_size", "12.5"),
    ("patients.search_page_size", " 50"),
    ("patients.search_page_size", "+50"),
    ("patients.search_page_size", "0x20"),
    ("patients.search_page_size", "1e2"),
    ("patients.search_page_size", "99999999999999999999999"),
    ("ai.search_min_similarity", "nan"),
    ("ai.search_min_similarity", "0,5"),
    ("ai.search_min_similarity", "2"),
    ("viewer.maintenance_mode", "maybe"),
    ("viewer.maintenance_mode", ""),
]


def test_refused_values_write_nothing(store: Store) -> None:
    with unit_of_work(store.app) as session:
        system_settings.set_setting(session, "patients.search_page_size", 40, actor=ACTOR)
    before = admin_state(store.admin)
    for key, value, error in _REFUSED_VALUES:
        with pytest.raises(error), unit_of_work(store.app) as session:
            system_settings.set_setting(session, key, value, actor=ACTOR)
        assert admin_state(store.admin) == before, (key, value)
    for key, typed in _REFUSED_TEXT:
        with pytest.raises(InvalidValueError), unit_of_work(store.app) as session:
            system_settings.set_setting_text(session, key, typed, actor=ACTOR)
        assert admin_state(store.admin) == before, (key, typed)


def test_a_refusal_names_the_setting_and_its_type_not_the_value(store: Store) -> None:
    with pytest.raises(InvalidValueError) as refused, unit_of_work(store.app) as session:
        system_settings.set_setting_text(
            session, "patients.search_page_size", "secret-ish-text", actor=ACTOR
        )
    assert refused.value.exit_code == 8
    assert "patients.search_page_size" in str(refused.value)
    assert "from 10 to 200" in str(refused.value)
    assert "secret-ish-text" not in str(refused.value)
