"""Connection limits must fit the server's ordinary slots, minus the administrator's (S36)."""

from __future__ import annotations

import pytest

from medz1.provision.declared import ADMIN_HEADROOM_CONNECTIONS, DEFAULT_LIMITS
from medz1.provision.slots import Slots, overcommit

_DEFAULT_SERVER = Slots(max_connections=100, superuser_reserved=3, reserved=0)


def test_default_limits_fit_a_default_server() -> None:
    limits = {role: spec.connection_limit for role, spec in DEFAULT_LIMITS.items()}
    assert overcommit(limits, _DEFAULT_SERVER) is None


@pytest.mark.parametrize(("extra", "fits"), [(0, True), (1, False)])
def test_limits_fit_up_to_the_last_ordinary_slot(extra: int, fits: bool) -> None:
    available = 97 - ADMIN_HEADROOM_CONNECTIONS
    limits = {"a": available - 10 + extra, "b": 10}
    assert (overcommit(limits, _DEFAULT_SERVER) is None) is fits


def test_reserved_connections_count_against_the_ordinary_slots() -> None:
    server = Slots(max_connections=100, superuser_reserved=3, reserved=20)
    assert overcommit({"a": 75}, server) is not None
    assert overcommit({"a": 75}, _DEFAULT_SERVER) is None


def test_an_unlimited_role_never_fits() -> None:
    reason = overcommit({"med_z1_user": -1, "reporting_user": 10}, _DEFAULT_SERVER)
    assert reason is not None
    assert reason.startswith("med_z1_user may open unlimited connections")
