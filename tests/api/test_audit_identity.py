"""The audit rows the service writes about a logged-in user name its e-mail address too.

The kinds come from ``WRITTEN_BY_THE_SERVICE`` of ``tests/db/test_audit_identity.py``,
which splits :class:`medz1.auth.audit.AuditEvent` between the two tests.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.api.conftest import Site, a_patient
from tests.db.test_audit_identity import WRITTEN_BY_THE_SERVICE


def test_service_audit_rows_name_the_users_email(clinic: Site) -> None:
    email = clinic.create_user()
    token = clinic.login(email)["token"]
    icn, _, _ = a_patient(clinic)
    with clinic.admin.connect() as conn:
        start = conn.execute(text("SELECT coalesce(max(chain_seq), 0) FROM auth.audit_logs"))
        first = int(start.scalar_one())
    assert clinic.client.get(f"/patients/{icn}/labs").status_code == 200
    assert clinic.client.get("/admin/users").status_code == 403
    bearer = {"Authorization": f"Bearer {token}"}
    made = clinic.client.post(
        f"/api/v1/patients/{icn}/break-glass",
        json={"reason": "covering a colleague"},
        headers=bearer,
    )
    assert made.status_code == 201, made.text
    with clinic.admin.connect() as conn:
        rows = conn.execute(
            text("SELECT event_type, email FROM auth.audit_logs WHERE chain_seq > :s"),
            {"s": first},
        ).all()
    assert {row.event_type for row in rows} >= {str(kind) for kind in WRITTEN_BY_THE_SERVICE}
    assert {row.email for row in rows} == {email}
