"""Users: creation and e-mail rules, lookups, updates, disable and dormancy (S10), delete
with audit rows untouched (S18), bad input.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from medz1.auth import demo, users
from medz1.auth.errors import InvalidInputError, UserExistsError
from medz1.db.engine import unit_of_work
from medz1.errors import NotFoundError
from tests.plugins.auth import PASSWORD, Store

pytestmark = pytest.mark.db


def test_created_user_is_stored_normalised_with_an_audit_row(store: Store) -> None:
    user = store.create_user("  Nurse.Ratched@VA.Example.ORG ", station=640)
    assert user.email == "nurse.ratched@va.example.org"
    assert user.display_name == "nurse.ratched@va.example.org"
    assert user.home_site_sta3n == 640
    assert user.is_active
    assert not user.is_locked
    assert store.events("user_created", user_id=user.user_id) == 1


def test_same_email_in_another_case_is_refused(store: Store) -> None:
    store.create_user("house@va.example.org")
    with pytest.raises(UserExistsError):
        store.create_user("HOUSE@va.example.org")
    assert store.scalar("SELECT count(*) FROM auth.users") == 1


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plainaddress",
        "@va.example.org",
        "a@b",
        "a@b.c",
        "two@@va.example.org",
        "dot.@va.example.org",
        "sp ace@va.example.org",
        "nul\x00@va.example.org",
        "x" * 65 + "@va.example.org",
        "a@" + "b" * 250 + ".org",
        "a@-bad-.org",
    ],
)
def test_malformed_email_is_refused_and_nothing_is_created(store: Store, email: str) -> None:
    with pytest.raises(InvalidInputError, match="e-mail"):
        store.create_user(email)
    assert store.scalar("SELECT count(*) FROM auth.users") == 0
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", "Dr\x00 Who"),
        ("first_name", "Greg\nory"),
        ("last_name", "x" * 101),
        ("home_site_sta3n", 0),
        ("home_site_sta3n", 100_000),
    ],
)
def test_bad_field_is_refused_and_nothing_is_created(store: Store, field: str, value: Any) -> None:
    new = users.NewUser(email="ok@va.example.org", **{field: value})
    with pytest.raises(InvalidInputError), unit_of_work(store.app) as session:
        users.create_user(session, user=new, password=PASSWORD, hasher=store.hasher, now=store.now)
    assert store.scalar("SELECT count(*) FROM auth.users") == 0


def test_find_user_ignores_case(store: Store) -> None:
    user = store.create_user("wilson@va.example.org")
    with unit_of_work(store.app) as session:
        assert users.find_user(session, email="WILSON@VA.EXAMPLE.ORG").user_id == user.user_id
        assert users.resolve_user(session, ident=str(user.user_id)).email == user.email


ACTIONS: dict[str, Callable[[Session, Store, uuid.UUID], object]] = {
    "get": lambda s, st, i: users.get_user(s, user_id=i),
    "disable": lambda s, st, i: users.disable_user(s, user_id=i, now=st.now),
    "enable": lambda s, st, i: users.enable_user(s, user_id=i, now=st.now),
    "unlock": lambda s, st, i: users.unlock_user(s, user_id=i, now=st.now),
    "delete": lambda s, st, i: users.delete_user(s, user_id=i, now=st.now),
    "set-password": lambda s, st, i: users.set_password(
        s, user_id=i, new_password="a fresh long passphrase", hasher=st.hasher, now=st.now
    ),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_unknown_user_id_is_refused_with_not_found(store: Store, action: str) -> None:
    with pytest.raises(NotFoundError), unit_of_work(store.app) as session:
        ACTIONS[action](session, store, uuid.uuid4())
    assert store.scalar("SELECT count(*) FROM auth.audit_logs") == 0


def test_list_users_filters_active_and_disabled(store: Store) -> None:
    keep, drop = store.create_user(), store.create_user()
    with unit_of_work(store.app) as session:
        users.disable_user(session, user_id=drop.user_id, now=store.now)
    with unit_of_work(store.app) as session:
        assert [u.user_id for u in users.list_users(session, active=True)] == [keep.user_id]
        assert [u.user_id for u in users.list_users(session, active=False)] == [drop.user_id]
        assert len(users.list_users(session)) == 2


def test_update_user_changes_names_and_station(store: Store) -> None:
    user = store.create_user()
    changes = users.NewUser(
        email=user.email, first_name="Lisa", last_name="Cuddy", home_site_sta3n=516
    )
    with unit_of_work(store.app) as session:
        updated = users.update_user(session, user_id=user.user_id, changes=changes, now=store.now)
    assert (updated.display_name, updated.home_site_sta3n) == ("Lisa Cuddy", 516)
    assert store.events("user_updated", user_id=user.user_id) == 1


def test_disabling_a_user_ends_all_its_sessions(store: Store) -> None:
    user = store.create_user()
    for _ in range(3):
        store.attempt(user.email).unwrap()
    with unit_of_work(store.app) as session:
        users.disable_user(session, user_id=user.user_id, now=store.now, reason="left the VA")
    assert store.active_sessions(user.user_id) == 0
    assert store.events("session_revoked", user_id=user.user_id) == 3
    assert store.events("user_disabled", user_id=user.user_id) == 1


def test_enabled_user_logs_in_again(store: Store) -> None:
    user = store.create_user()
    with unit_of_work(store.app) as session:
        users.disable_user(session, user_id=user.user_id, now=store.now)
    with unit_of_work(store.app) as session:
        users.enable_user(session, user_id=user.user_id, now=store.now)
    assert store.attempt(user.email).ok
    assert store.events("user_enabled", user_id=user.user_id) == 1


def test_dormant_users_are_disabled_and_lose_every_session(store: Store) -> None:
    dormant, recent = store.create_user(), store.create_user()
    store.attempt(dormant.email).unwrap()
    store.tick(days=20)
    store.attempt(recent.email).unwrap()
    store.tick(days=10, seconds=1)
    with unit_of_work(store.app) as session:
        disabled = users.disable_dormant(session, now=store.now, config=store.config)
    assert [u.user_id for u in disabled] == [dormant.user_id]
    assert disabled[0].disabled_reason == "dormant"
    assert store.active_sessions(dormant.user_id) == 0
    assert store.active_sessions(recent.user_id) == 1


def test_re_enabled_user_gets_a_fresh_dormancy_period(store: Store) -> None:
    user = store.create_user()
    store.tick(days=31)
    with unit_of_work(store.app) as session:
        users.disable_dormant(session, now=store.now, config=store.config)
    with unit_of_work(store.app) as session:
        users.enable_user(session, user_id=user.user_id, now=store.now)
    store.tick(days=29)
    with unit_of_work(store.app) as session:
        assert users.disable_dormant(session, now=store.now, config=store.config) == []


def _audit_dump(store: Store) -> list[str]:
    with store.admin.connect() as conn:
        return list(
            conn.execute(text("SELECT a::text FROM auth.audit_logs a ORDER BY chain_seq")).scalars()
        )


def test_deleting_a_user_keeps_its_audit_rows_byte_identical(store: Store) -> None:
    user = store.create_user()
    store.attempt(user.email).unwrap()
    store.attempt(user.email, "wrong password for sure")
    before = _audit_dump(store)
    with unit_of_work(store.app) as session:
        users.delete_user(session, user_id=user.user_id, now=store.now, actor="admin")
    after = _audit_dump(store)
    assert after[: len(before)] == before
    assert store.scalar("SELECT count(*) FROM auth.sessions") == 0
    assert store.events("session_revoked", user_id=user.user_id) == 1
    assert store.events("user_deleted", user_id=user.user_id) == 1
    assert store.scalar("SELECT count(*) FROM auth.users") == 0


def test_created_at_is_the_clock_given(store: Store) -> None:
    user = store.create_user()
    assert user.created_at == store.now
    assert user.password_changed_at == store.now
    assert store.now - timedelta(seconds=1) < user.created_at


def test_demo_clinicians_log_in_with_the_passwords_printed_once(store: Store) -> None:
    with unit_of_work(store.app) as session:
        created = demo.create_demo_users(session, hasher=store.hasher, now=store.now)
    with unit_of_work(store.app) as session:
        again = demo.create_demo_users(session, hasher=store.hasher, now=store.now)
    assert len({u.home_site_sta3n for u in created}) == len(created) >= 3
    assert again == []
    assert all(store.attempt(u.email, u.password).ok for u in created)
    assert all(u.password not in repr(u) for u in created)
