"""The one ``MetaData`` of medz1 and the declarative base every model derives from.

The naming convention gives every constraint and index a predictable name, so that
migrations can refer to them and ``medz1 check`` compares like with like.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Schemas medz1 owns, in creation order.
SCHEMAS: tuple[str, ...] = ("public", "auth", "ai", "admin")

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base of all medz1 models; every table carries its schema and comments."""

    metadata = metadata
