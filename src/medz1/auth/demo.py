"""Demo clinicians for ``medz1 up --demo``: a few users at different home stations.

Their passwords are generated with :mod:`secrets`, returned once so the command can print
them, and stored only as argon2id hashes. Users that already exist are left alone (and
their passwords are not returned: they are not known).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from medz1.auth import users
from medz1.auth.errors import UserExistsError
from medz1.auth.password_rules import PasswordRuleError, check_new_password
from medz1.auth.passwords import PasswordHasher

#: (e-mail, first name, last name, home station sta3n, station name)
DEMO_CLINICIANS: tuple[tuple[str, str, str, int, str], ...] = (
    ("dr.alice.atlanta@va.example.org", "Alice", "Morgan", 508, "Atlanta"),
    ("dr.ben.baypines@va.example.org", "Ben", "Ortiz", 516, "Bay Pines"),
    ("dr.cara.dayton@va.example.org", "Cara", "Nguyen", 552, "Dayton"),
    ("dr.dev.paloalto@va.example.org", "Dev", "Patel", 640, "Palo Alto"),
    ("dr.eve.washington@va.example.org", "Eve", "Johnson", 688, "Washington"),
)


@dataclass(frozen=True)
class DemoUser:
    """A demo clinician created now, with its one-time password."""

    email: str
    password: str = field(repr=False)
    home_site_sta3n: int


def generate_password(context_words: tuple[str, ...] = ()) -> str:
    """A random password of 24 URL-safe characters (144 bits) that passes the rules."""
    while True:
        candidate = secrets.token_urlsafe(18)
        try:
            return check_new_password(candidate, context_words=context_words)
        except PasswordRuleError:  # astronomically rare: a context word by chance
            continue


def create_demo_users(
    session: Session, *, hasher: PasswordHasher, now: datetime, created_by: str = "demo"
) -> list[DemoUser]:
    """Create the demo clinicians that do not exist yet; return them with their passwords.

    Never commits; audit rows (``user_created``) are written in the caller's transaction.
    """
    created: list[DemoUser] = []
    for email, first, last, station, station_name in DEMO_CLINICIANS:
        words = (email, first, last, station_name)
        password = generate_password(words)
        try:
            users.create_user(
                session,
                user=users.NewUser(
                    email=email,
                    display_name=f"Dr. {first} {last}",
                    first_name=first,
                    last_name=last,
                    home_site_sta3n=station,
                ),
                password=password,
                hasher=hasher,
                now=now,
                created_by=created_by,
                context_words=(station_name,),
            )
        except UserExistsError:
            continue
        created.append(DemoUser(email=email, password=password, home_site_sta3n=station))
    return created
