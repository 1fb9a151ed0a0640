"""Patient views through the shared audited entry point (:mod:`medz1.auth.patient_access`).

The web service and Python callers read a patient through the same functions: the
session is checked, the data read and the ``patient_view`` row written in one
transaction, and a view is audited exactly once, also when views run concurrently.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from medz1.auth import audit, checkpoints
from medz1.auth.errors import SessionInvalid
from medz1.auth.patient_access import open_chart
from medz1.db.engine import unit_of_work
from tests.api.conftest import Site, a_patient, logged_in


@contextmanager
def counted(engine: Engine) -> Iterator[Counter[str]]:
    """Count the transactions begun and the connections checked out on ``engine``."""
    seen: Counter[str] = Counter()

    def began(*_: object) -> None:
        seen["transactions"] += 1

    def checked_out(*_: object) -> None:
        seen["checkouts"] += 1

    event.listen(engine, "begin", began)
    event.listen(engine.pool, "checkout", checked_out)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", began)
        event.remove(engine.pool, "checkout", checked_out)


def _views(site: Site, icn: str) -> int:
    with site.admin.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM auth.audit_logs WHERE event_type = 'patient_view' "
                    "AND details->>'patient_key' = :icn"
                ),
                {"icn": icn},
            ).scalar_one()
        )


@pytest.mark.parametrize(
    "path", ["/patients/{icn}", "/api/v1/patients/{icn}/chart", "/patients/{icn}/labs"]
)
def test_a_patient_view_is_one_transaction_on_one_connection(clinic: Site, path: str) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    clinic.client.get(path.format(icn=icn))  # warm: the pool holds a connection
    before = _views(clinic, icn)
    with counted(clinic.service.engine) as seen:
        assert clinic.client.get(path.format(icn=icn)).status_code == 200
    # The session check, the time zone, the read and its audit row commit together.
    assert seen == {"transactions": 1, "checkouts": 1}
    assert _views(clinic, icn) == before + 1


def test_an_expired_session_is_ended_and_its_view_neither_read_nor_audited(
    clinic: Site,
) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    before = _views(clinic, icn)
    timeouts = clinic.audit_count("session_timeout")
    clinic.clock.tick(days=2)
    answer = clinic.client.get(f"/api/v1/patients/{icn}/chart")
    assert answer.status_code == 401
    assert _views(clinic, icn) == before
    assert clinic.audit_count("session_timeout") == timeouts + 1  # committed, not rolled back


def test_open_chart_reads_and_audits_once_for_python_callers(clinic: Site) -> None:
    body = logged_in(clinic)
    icn, last, _ = a_patient(clinic)
    before = _views(clinic, icn)
    service = clinic.service
    viewed = open_chart(
        service.engine,
        token=body["token"],
        patient_key=icn,
        config=service.auth,
        now=clinic.clock(),
    )
    assert viewed.chart is not None
    assert viewed.chart.demographics.name_last == last
    assert str(viewed.session.session_id) == body["session_id"]
    assert _views(clinic, icn) == before + 1
    missing = open_chart(
        service.engine,
        token=body["token"],
        patient_key="NOSUCH1",
        config=service.auth,
        now=clinic.clock(),
    )
    assert missing.chart is None
    assert _views(clinic, "NOSUCH1") == 0


def test_open_chart_refuses_an_ended_session_without_reading(clinic: Site) -> None:
    body = logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    assert clinic.client.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {body['token']}"}
    ).status_code in (200, 204)
    before = _views(clinic, icn)
    with pytest.raises(SessionInvalid):
        open_chart(
            clinic.service.engine,
            token=body["token"],
            patient_key=icn,
            config=clinic.service.auth,
            now=clinic.clock(),
        )
    assert _views(clinic, icn) == before


def test_concurrent_views_are_each_audited_exactly_once_and_all_checkpointed(
    clinic: Site, tmp_path: Path
) -> None:
    body = logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    before = _views(clinic, icn)
    service = clinic.service
    log = checkpoints.CheckpointLog(tmp_path / "checkpoints.jsonl", b"k" * 32, fresh_key=True)

    def view(_: int) -> None:
        found = open_chart(
            service.engine,
            token=body["token"],
            patient_key=icn,
            config=service.auth,
            now=clinic.clock(),
        )
        assert found.chart is not None

    with checkpoints.installed(lambda: log), ThreadPoolExecutor(4) as pool:
        list(pool.map(view, range(24)))
    assert _views(clinic, icn) == before + 24
    with unit_of_work(clinic.admin) as session:
        database, newest_seq, _ = audit.newest_row(session) or ("", 0, b"")
        report = audit.verify_chain(session, checkpoints=log)
    # Group commit may write fewer lines than commits, but the newest covers every view.
    points = log.scan(database).current
    assert 1 <= len(points) <= 24
    assert max(point.seq for point in points) == newest_seq
    assert report.ok, report.first_break


def test_serve_worker_installs_the_checkpoint_log(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medz1.cli import serve

    monkeypatch.setenv("MEDZ1_DATA_DIR", str(tmp_path))
    saved = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in ("medz1.access", "medz1.service")
    }
    monkeypatch.setattr(checkpoints, "_providers", [])  # a fresh worker process
    monkeypatch.setattr(checkpoints, "_resolved", {})
    try:
        serve._factory()
        log = checkpoints.active()
    finally:
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
    assert log is not None
    assert log.path == tmp_path / checkpoints.CHECKPOINTS_FILE
