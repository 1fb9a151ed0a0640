"""Feature flags: sticky percentage rollout, targeting, kill switch, the cached snapshot, and
refused input that writes nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import text

from medz1.admin import flags
from medz1.admin.flags import ErrorCode, Flag, FlagClient, Reason
from medz1.admin.schema import InvalidValueError
from medz1.auth.errors import InvalidInputError
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.errors import Medz1Error, NotFoundError, UsageError
from medz1.provision.credentials import RolePlan
from tests.db.admin_support import admin_state, audit_details
from tests.plugins.auth import Store, open_store

ACTOR = "cli:tester"
USERS = [f"user{i}@va.example.org" for i in range(10_000)]


def _flag(key: str, **fields: object) -> Flag:
    base = Flag(
        flag_key=key,
        enabled=True,
        killed=False,
        rollout_percent=Decimal(100),
        target_users=frozenset(),
        target_stations=frozenset(),
        description=None,
        version=1,
        updated_at=None,
        updated_by=None,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("percent", ["1", "12.5", "50", "99.5"])
@pytest.mark.parametrize("key", ["ai.chart_summaries", "viewer.new_vitals_chart"])
def test_rollout_share_is_within_two_points_over_10000_users(percent: str, key: str) -> None:
    flag = _flag(key, rollout_percent=Decimal(percent))
    results = [flags.evaluate(flag, key, user) for user in USERS]
    observed = 100 * sum(result.value for result in results) / len(USERS)
    assert abs(observed - float(percent)) <= 2, observed
    assert {result.reason for result in results} == {Reason.SPLIT}


def test_raising_the_rollout_keeps_every_user_who_had_the_feature() -> None:
    key = "ai.chart_summaries"
    shares = ["5", "20", "60"]
    on_at = {
        share: {
            user
            for user in USERS[:3_000]
            if flags.evaluate(_flag(key, rollout_percent=Decimal(share)), key, user).value
        }
        for share in shares
    }
    for smaller, larger in itertools.pairwise(shares):
        assert on_at[smaller] < on_at[larger]


def test_two_flags_at_the_same_share_pick_different_users() -> None:
    first = _flag("a.one", rollout_percent=Decimal(50))
    second = _flag("a.two", rollout_percent=Decimal(50))
    on_first = {u for u in USERS if flags.evaluate(first, "a.one", u).value}
    on_second = {u for u in USERS if flags.evaluate(second, "a.two", u).value}
    # Independent halves overlap by about a quarter, not by a half.
    assert abs(len(on_first & on_second) / len(USERS) - 0.25) < 0.03


@pytest.mark.slow
def test_rollout_answer_is_the_same_in_another_process() -> None:
    """Sticky across processes and releases: not Python's salted ``hash()``."""
    sample = USERS[:200]
    here = [flags.bucket("ai.chart_summaries", user) for user in sample]
    code = (
        "import sys, json\n"
        "from medz1.admin.flags import bucket\n"
        "users = json.loads(sys.stdin.read())\n"
        "print(json.dumps([bucket('ai.chart_summaries', u) for u in users]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == here


def test_the_targeting_key_compares_without_case() -> None:
    flag = _flag("x.y", enabled=False, target_users=frozenset({"greg.house@va.example.org"}))
    result = flags.evaluate(flag, "x.y", " Greg.House@VA.example.org ")
    assert (result.value, result.reason) == (True, Reason.TARGETING_MATCH)


def test_reasons_follow_the_openfeature_vocabulary() -> None:
    targeted = _flag(
        "x.y",
        enabled=False,
        target_users=frozenset({"a@va.example.org"}),
        target_stations=frozenset({"508"}),
    )
    assert flags.evaluate(None, "x.y", "a@va.example.org").error_code is ErrorCode.FLAG_NOT_FOUND
    assert flags.evaluate(targeted, "x.y", "a@va.example.org").reason is Reason.TARGETING_MATCH
    assert flags.evaluate(targeted, "x.y", None, 508).reason is Reason.TARGETING_MATCH
    off = flags.evaluate(targeted, "x.y", "b@va.example.org", "509")
    assert (off.value, off.reason, off.variant) == (False, Reason.DEFAULT, "off")
    assert flags.evaluate(_flag("x.y"), "x.y").reason is Reason.STATIC
    split = flags.evaluate(_flag("x.y", rollout_percent=Decimal(50)), "x.y", None)
    assert (split.value, split.error_code) == (False, ErrorCode.TARGETING_KEY_MISSING)
    killed = replace(targeted, killed=True)
    assert flags.evaluate(killed, "x.y", "a@va.example.org").reason is Reason.DISABLED


# -- on the database ---------------------------------------------------------------------------


@pytest.fixture
def store(db_target: Target, role_plan: RolePlan) -> Iterator[Store]:
    with open_store(db_target, role_plan) as opened:
        yield opened


@pytest.mark.db
def test_targets_kill_switch_and_release_through_the_database(store: Store) -> None:
    store.create_user("greg.house@va.example.org")
    with unit_of_work(store.app) as session:
        created = flags.set_flag(
            session,
            "ai.chart_summaries",
            enabled=False,
            users=["Greg.House@va.example.org"],
            stations=["508"],
            actor=ACTOR,
        )
    assert created.created
    client = FlagClient(store.app, refresh_seconds=0)
    assert client.is_enabled("ai.chart_summaries", "greg.house@va.example.org")
    assert client.is_enabled("ai.chart_summaries", "other@va.example.org", station=508)
    assert not client.is_enabled("ai.chart_summaries", "other@va.example.org", station=509)
    with unit_of_work(store.app) as session:
        flags.set_killed(session, "ai.chart_summaries", killed=True, actor=ACTOR)
    killed = client.evaluate("ai.chart_summaries", "greg.house@va.example.org", 508)
    assert (killed.value, killed.reason) == (False, Reason.DISABLED)
    with unit_of_work(store.app) as session:
        released = flags.set_killed(session, "ai.chart_summaries", killed=False, actor=ACTOR)
    assert released.flag.target_stations == {"508"}
    assert client.is_enabled("ai.chart_summaries", "greg.house@va.example.org")


@pytest.mark.db
def test_evaluations_use_the_snapshot_until_the_version_changes(store: Store) -> None:
    with unit_of_work(store.app) as session:
        flags.set_flag(session, "viewer.banner", enabled=False, actor=ACTOR)
    clock = [0.0]
    client = FlagClient(store.app, refresh_seconds=5, clock=lambda: clock[0])
    for _ in range(1_000):
        assert not client.is_enabled("viewer.banner", "a@va.example.org")
    assert (client.counters.checks, client.counters.loads) == (1, 1)
    with unit_of_work(store.app) as session:
        flags.set_flag(session, "viewer.banner", enabled=True, actor=ACTOR)
    # Within the interval the snapshot is served as it is: no query.
    assert not client.is_enabled("viewer.banner", "a@va.example.org")
    assert client.counters.checks == 1
    clock[0] = 5.0
    assert client.is_enabled("viewer.banner", "a@va.example.org")
    assert (client.counters.checks, client.counters.loads) == (2, 2)
    clock[0] = 10.0
    assert client.is_enabled("viewer.banner", "a@va.example.org")
    assert (client.counters.checks, client.counters.loads) == (3, 2)  # checked, not reloaded


@pytest.mark.db
def test_every_change_raises_the_version_and_is_audited(store: Store) -> None:
    with unit_of_work(store.app) as session:
        first = flags.set_flag(session, "a.one", enabled=True, rollout_percent=10, actor=ACTOR)
    with unit_of_work(store.app) as session:
        second = flags.set_flag(session, "a.two", enabled=False, actor=ACTOR)
    with unit_of_work(store.app) as session:
        third = flags.set_flag(session, "a.one", rollout_percent="20", actor=ACTOR)
    with unit_of_work(store.app) as session:
        same = flags.set_flag(session, "a.one", rollout_percent=20.0, actor=ACTOR)
    assert first.flag.version < second.flag.version < third.flag.version
    assert third.changed == ("rollout_percent",)
    assert same.changed == ()
    details = audit_details(store.admin, "flag_changed")
    assert [d["flag_key"] for d in details] == ["a.one", "a.two", "a.one"]
    assert details[-1]["changed"] == {"rollout_percent": 20.0}
    assert details[-1]["actor"] == ACTOR
    with store.admin.connect() as conn:
        by = conn.execute(
            text("SELECT updated_by FROM admin.feature_flags WHERE flag_key = 'a.one'")
        ).scalar()
    assert by == ACTOR


_REFUSED: list[tuple[dict[str, object], type[Medz1Error]]] = [
    ({"flag_key": "AI.Upper"}, InvalidValueError),
    ({"flag_key": "a" * 101}, InvalidValueError),
    ({"flag_key": "a..b"}, InvalidValueError),
    ({"flag_key": "a.b\x00"}, InvalidValueError),
    ({"rollout_percent": 101}, InvalidValueError),
    ({"rollout_percent": -1}, InvalidValueError),
    ({"rollout_percent": "12.345"}, InvalidValueError),
    ({"rollout_percent": float("nan")}, InvalidValueError),
    ({"rollout_percent": "Infinity"}, InvalidValueError),
    ({"rollout_percent": "ten"}, InvalidValueError),
    ({"rollout_percent": True}, InvalidValueError),
    ({"stations": ["abc"]}, InvalidValueError),
    ({"stations": ["50"]}, InvalidValueError),
    ({"stations": [True]}, InvalidValueError),
    ({"users": ["not-an-address"]}, InvalidInputError),
    ({"users": ["nobody@va.example.org"]}, NotFoundError),
    ({"description": "line\nbreak"}, InvalidValueError),
    ({"enabled": "yes"}, InvalidValueError),
    ({"flag_key": "brand.new", "enabled": None}, UsageError),
]


@pytest.mark.db
def test_refused_flag_input_writes_nothing(store: Store) -> None:
    store.create_user("greg.house@va.example.org")
    with unit_of_work(store.app) as session:
        flags.set_flag(
            session, "a.one", enabled=True, users=["greg.house@va.example.org"], actor=ACTOR
        )
    before = admin_state(store.admin)
    for change, error in _REFUSED:
        arguments: dict[str, object] = {"flag_key": "a.one", "enabled": True, **change}
        key = arguments.pop("flag_key")
        with pytest.raises(error), unit_of_work(store.app) as session:
            flags.set_flag(session, key, actor=ACTOR, **arguments)  # type: ignore[arg-type]
        assert admin_state(store.admin) == before, change


@pytest.mark.db
def test_killing_an_unknown_flag_is_not_found_and_writes_nothing(store: Store) -> None:
    before = admin_state(store.admin)
    with pytest.raises(NotFoundError), unit_of_work(store.app) as session:
        flags.set_killed(session, "no.such", killed=True, actor=ACTOR)
    assert admin_state(store.admin) == before


@pytest.mark.db
def test_concurrent_writers_get_versions_in_commit_order(store: Store) -> None:
    """A second writer waits for the first and gets a higher version, so a client that
    saw the first commit's version cannot miss the second.
    """
    with unit_of_work(store.app) as session:
        flags.set_flag(session, "a.one", enabled=False, actor=ACTOR)
    results: dict[str, int] = {}
    first_holds_lock = threading.Event()

    def second_writer() -> None:
        first_holds_lock.wait(timeout=10)
        with unit_of_work(store.app) as session:
            results["second"] = flags.set_flag(
                session, "a.two", enabled=True, actor=ACTOR
            ).flag.version

    worker = threading.Thread(target=second_writer)
    worker.start()
    with unit_of_work(store.app) as session:
        results["first"] = flags.set_flag(session, "a.one", enabled=True, actor=ACTOR).flag.version
        first_holds_lock.set()
        assert _someone_waits_for_the_flag_table(store)
    worker.join(timeout=10)
    assert results["second"] > results["first"]
    with unit_of_work(store.app) as session:
        assert flags.snapshot_version(session) == (results["second"], 2)


def _someone_waits_for_the_flag_table(store: Store) -> bool:
    """True once a session waits for a lock on admin.feature_flags (polled, up to 20 s)."""
    for _ in range(400):
        waiting = store.scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'admin.feature_flags'::regclass"
        )
        if waiting:
            return True
        threading.Event().wait(0.05)
    return False
