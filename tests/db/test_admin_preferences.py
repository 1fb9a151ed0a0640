"""User preferences: typed by their declaration, all or nothing, removed with the user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from medz1.admin import preferences
from medz1.admin.schema import InvalidValueError, UnknownKeyError
from medz1.auth import users
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import Medz1Error, NotFoundError
from medz1.provision.credentials import RolePlan
from tests.db.admin_support import admin_state
from tests.plugins.auth import Store, open_store

pytestmark = pytest.mark.db


@pytest.fixture
def store(db_target: Target, role_plan: RolePlan) -> Iterator[Store]:
    with open_store(db_target, role_plan) as opened:
        yield opened


def test_preferences_read_defaults_until_set(store: Store) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        assert preferences.get_preferences(session, user_id=user.user_id) == {
            key: field.default for key, field in preferences.PREFERENCES.items()
        }
        preferences.set_preferences(
            session,
            user_id=user.user_id,
            values={"time_zone": "America/Chicago", "patients.list_size": 50},
        )
        preferences.set_preference_text(
            session, user_id=user.user_id, key="medications.show_inactive", typed="yes"
        )
    with unit_of_work(store.app) as session:
        found = preferences.get_preferences(session, user_id=user.user_id)
    assert found["time_zone"] == "America/Chicago"
    assert found["patients.list_size"] == 50
    assert found["medications.show_inactive"] is True
    assert found["vitals.default_range_days"] == 90


def test_one_bad_value_refuses_the_whole_change(store: Store) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        preferences.set_preferences(session, user_id=user.user_id, values={"time_zone": "UTC"})
    before = admin_state(store.admin)
    refused: list[tuple[dict[object, object], type[Medz1Error]]] = [
        ({"time_zone": "Europe/Paris", "patients.list_size": 500}, InvalidValueError),
        ({"patients.list_size": 20, "time_zone": "Mars/Olympus_Mons"}, InvalidValueError),
        ({"time_zone": "../../etc/passwd"}, InvalidValueError),
        ({"time_zone": 5}, InvalidValueError),
        ({"vitals.default_range_days": 0}, InvalidValueError),
        ({"vitals.default_range_days": 30.0}, InvalidValueError),
        ({"medications.show_inactive": "false"}, InvalidValueError),
        ({"time_zone": "Europe/Paris", "theme": "dark"}, UnknownKeyError),
        ({5: 1}, UnknownKeyError),
    ]
    for values, error in refused:
        with pytest.raises(error), unit_of_work(store.app) as session:
            preferences.set_preferences(session, user_id=user.user_id, values=values)
        assert admin_state(store.admin) == before, values
    with pytest.raises(InvalidValueError), unit_of_work(store.app) as session:
        preferences.set_preference_text(
            session, user_id=user.user_id, key="patients.list_size", typed="lots"
        )
    with pytest.raises(NotFoundError), unit_of_work(store.app) as session:
        preferences.set_preferences(
            session, user_id=uuid.uuid4(), values={"time_zone": "Europe/Paris"}
        )
    assert admin_state(store.admin) == before


def test_preferences_are_removed_with_the_user(store: Store) -> None:
    gone = store.create_user()
    kept = store.create_user()
    with unit_of_work(store.app) as session:
        for user in (gone, kept):
            preferences.set_preferences(
                session, user_id=user.user_id, values={"time_zone": "Asia/Tokyo"}
            )
    with unit_of_work(store.app) as session:
        users.delete_user(session, user_id=gone.user_id, now=datetime.now(UTC))
    with store.admin.connect() as conn:
        owners = conn.execute(text("SELECT DISTINCT user_id FROM admin.user_preferences")).all()
    assert [row[0] for row in owners] == [kept.user_id]


def test_a_stored_value_that_breaks_the_declaration_reads_as_the_default(store: Store) -> None:
    user = store.create_user()
    with store.admin.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO admin.user_preferences (user_id, preference_key, value) "
                "VALUES (:u, 'patients.list_size', '\"many\"')"
            ),
            {"u": user.user_id},
        )
    with unit_of_work(store.app) as session:
        found = preferences.get_preferences(session, user_id=user.user_id)
    assert found["patients.list_size"] == 25
