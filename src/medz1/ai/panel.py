"""The drug-interaction panel of the medications page, behind a feature flag.

The web service shows the interacting pairs of the patient's active medications on the
medications page when the flag :data:`INTERACTIONS_FLAG` is on for the logged-in user
(targeting key: the e-mail) and their home station, evaluated by a
:class:`medz1.admin.flags.FlagClient` (a snapshot in memory, refreshed by version: no
query per evaluation). Off, or for a flag nobody created, the page has no panel and the
interaction table is not read.

The pairs are read as the application role with the user's station scope (row security):
the medications of a patient the user may not open are never read.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass

from sqlalchemy import Engine

from medz1.admin.flags import FlagClient
from medz1.ai.interactions import Interaction, active_medications, cached_interactions
from medz1.dal.session import Scope, set_scope
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated

#: The flag that shows the panel (``medz1 flags set ai.drug_interactions_panel --on``).
INTERACTIONS_FLAG = "ai.drug_interactions_panel"

_clients: weakref.WeakKeyDictionary[Engine, FlagClient] = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def flag_client(engine: Engine) -> FlagClient:
    """The one :class:`FlagClient` of ``engine`` (the service's application engine), made
    on first use and kept while the engine lives.
    """
    with _clients_lock:
        client = _clients.get(engine)
        if client is None:
            client = _clients[engine] = FlagClient(engine)
        return client


@dataclass(frozen=True)
class InteractionPanel:
    """What the panel shows: the active medications and their interacting pairs."""

    medications: list[str]
    interactions: list[Interaction]


def interaction_panel(
    engine: Engine,
    *,
    email: str,
    home_station: int | str | None,
    session_id: uuid.UUID | None,
    patient_key: str,
) -> InteractionPanel | None:
    """The panel for ``patient_key``, or None when the flag is off for this user.

    Args:
        engine: The service's engine (``med_z1_user``).
        email: The logged-in user's e-mail (the flag's targeting key).
        home_station: The user's home station (sta3n): the flag's station and the scope.
        session_id: The user's session (its break-the-glass grants apply).
        patient_key: The patient (ICN) of the page.

    Raises:
        Medz1Error: a connection or server failure, translated by SQLSTATE.
    """
    station = None if home_station is None else str(home_station)
    if not flag_client(engine).is_enabled(INTERACTIONS_FLAG, user=email, station=station):
        return None
    with translated(), unit_of_work(engine) as session:
        set_scope(session, Scope(station, session_id, patient_key))
        medications = active_medications(session, patient_key=patient_key)
        found, _ = cached_interactions(session, medications)
    return InteractionPanel(medications, found)
