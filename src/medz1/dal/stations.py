"""Cross-schema reads: clinical data (``public``) joined with users (``auth``).

This is the seed's cross-schema query: the patients whose primary station is a user's
home site. Clinical tables are read unqualified, as med-z1 reads them; ``auth.`` is
always qualified.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

_AT_HOME_SITE = text(
    """
    SELECT d.patient_key, d.name_display, d.primary_station, d.primary_station_name
    FROM patient_demographics d
    JOIN auth.users u ON d.primary_station = CAST(u.home_site_sta3n AS VARCHAR)
    WHERE u.user_id = :user_id
    ORDER BY d.name_last, d.name_first, d.patient_key
    LIMIT :limit OFFSET :offset
    """
)


@dataclass(frozen=True)
class PatientAtSite:
    """A patient whose primary station is the user's home site."""

    patient_key: str
    name_display: str | None
    primary_station: str
    primary_station_name: str | None


def patients_at_home_site(
    session: Session, *, user_id: uuid.UUID, limit: int = 100, offset: int = 0
) -> list[PatientAtSite]:
    """Patients whose ``primary_station`` is the home station (sta3n) of user ``user_id``.

    Ordered by name; pages with ``limit`` and ``offset``. Empty when the user has no
    home site or does not exist.

    Args:
        session: a session, read as the caller's role.
        user_id: the user whose home station (sta3n) is used.
        limit: patients per page.
        offset: patients to skip.

    Returns:
        The page of patients, each with ICN, name and station.
    """
    rows = session.execute(
        _AT_HOME_SITE, {"user_id": user_id, "limit": limit, "offset": offset}
    ).mappings()
    return [PatientAtSite(**row) for row in rows]
