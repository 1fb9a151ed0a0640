"""The models against the med-z1 column contract, without a database."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from medz1.db.types import UTCDateTime
from medz1.models import SCHEMAS, metadata

CONTRACT_PATH = Path(__file__).parents[1] / "contract" / "med_z1_tables.json"
CONTRACT: dict[str, dict[str, dict[str, Any]]] = json.loads(CONTRACT_PATH.read_text())
CONTRACT_COLUMNS = [(table, column) for table, cols in CONTRACT.items() for column in cols]
CLINICAL_TABLES = [table for table in metadata.sorted_tables if table.schema == "public"]


def _table(qualified_name: str) -> Table:
    return metadata.tables[qualified_name]


def _column(qualified_name: str, column: str) -> Column[Any]:
    return _table(qualified_name).c[column]


def _matches(contract_type: str, column_type: TypeEngine[Any]) -> bool:
    """Whether a model column type is the contract type, or its stricter medz1 equivalent."""
    if contract_type == "timestamp without time zone":
        aware = isinstance(column_type, DateTime) and column_type.timezone
        return isinstance(column_type, UTCDateTime) or aware
    if m := re.fullmatch(r"character varying\((\d+)\)", contract_type):
        if isinstance(column_type, Text):
            return True
        return type(column_type) is String and column_type.length == int(m[1])
    if m := re.fullmatch(r"numeric\((\d+),(\d+)\)", contract_type):
        return isinstance(column_type, Numeric) and (
            column_type.precision,
            column_type.scale,
        ) == (int(m[1]), int(m[2]))
    exact: dict[str, type[TypeEngine[Any]]] = {
        "integer": Integer,
        "bigint": BigInteger,
        "smallint": SmallInteger,
        "boolean": Boolean,
        "date": Date,
        "jsonb": JSONB,
        "uuid": Uuid,
        "text": Text,
    }
    if contract_type == "character(1)":
        return isinstance(column_type, CHAR) and column_type.length == 1
    return type(column_type) is exact[contract_type]


def test_contract_lists_the_thirteen_med_z1_tables() -> None:
    assert len(CONTRACT) == 13
    assert sum(len(columns) for columns in CONTRACT.values()) == 290


def test_every_contract_table_exists_in_its_schema() -> None:
    missing = set(CONTRACT) - set(metadata.tables)
    assert not missing


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_every_contract_column_exists(table: str) -> None:
    missing = set(CONTRACT[table]) - set(_table(table).c.keys())
    assert not missing


@pytest.mark.parametrize(("table", "column"), CONTRACT_COLUMNS)
def test_column_type_is_compatible_with_the_contract(table: str, column: str) -> None:
    contract_type = CONTRACT[table][column]["type"]
    assert _matches(contract_type, _column(table, column).type), contract_type


@pytest.mark.parametrize(("table", "column"), CONTRACT_COLUMNS)
def test_nullability_is_the_contracts(table: str, column: str) -> None:
    assert _column(table, column).nullable is not CONTRACT[table][column]["not_null"]


@pytest.mark.parametrize(("table", "column"), CONTRACT_COLUMNS)
def test_contract_defaults_are_kept(table: str, column: str) -> None:
    default = CONTRACT[table][column]["default"]
    model_column = _column(table, column)
    if default is None:
        assert model_column.server_default is None
    elif (table, column) == ("auth.audit_logs", "audit_id"):
        # Departure (docs/architecture.md, S19): the insert trigger draws the id from its
        # own sequence and overwrites any value a writer gives; the column has no default.
        assert model_column.identity is None
        assert model_column.server_default is not None  # FetchedValue: set by the trigger
    elif default.startswith("nextval("):
        assert isinstance(model_column.identity, Identity)
        assert model_column.identity.always is False
    else:
        expected = {"CURRENT_TIMESTAMP": "now()"}.get(default, default.split("::")[0])
        assert str(getattr(model_column.server_default, "arg", None)) == expected


def test_every_timestamp_is_timezone_aware() -> None:
    naive = [
        f"{table.fullname}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.c
        if isinstance(column.type, DateTime) and not column.type.timezone
    ]
    assert not naive


def test_every_table_has_a_comment() -> None:
    assert [t.fullname for t in metadata.sorted_tables if not (t.comment or "").strip()] == []


def test_every_column_has_a_comment() -> None:
    uncommented = [
        f"{table.fullname}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.c
        if not (column.comment or "").strip()
    ]
    assert not uncommented


@pytest.mark.parametrize("table", CLINICAL_TABLES, ids=lambda t: t.name)
def test_clinical_primary_key_leads_with_patient_key(table: Table) -> None:
    assert table.primary_key.columns.keys()[0] == "patient_key"


@pytest.mark.parametrize("table", CLINICAL_TABLES, ids=lambda t: t.name)
def test_clinical_unique_keys_lead_with_patient_key(table: Table) -> None:
    uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    uniques_ix = [ix for ix in table.indexes if ix.unique]
    assert all(c.columns.keys()[0] == "patient_key" for c in uniques)
    assert all(ix.columns.keys()[0] == "patient_key" for ix in uniques_ix)


def test_metadata_holds_twenty_four_tables_in_the_four_schemas() -> None:
    assert len(metadata.tables) == 24
    assert {table.schema for table in metadata.sorted_tables} == set(SCHEMAS)


def test_every_table_has_an_explicit_schema() -> None:
    assert all(table.schema in SCHEMAS for table in metadata.sorted_tables)
    assert all(key == f"{t.schema}.{t.name}" for key, t in metadata.tables.items())


def test_every_index_has_an_explicit_postgres_sized_name() -> None:
    names = [ix.name for table in metadata.sorted_tables for ix in table.indexes]
    assert all(isinstance(name, str) and len(name) <= 63 for name in names)
    assert all(str(name).startswith(("ix_", "ux_")) for name in names)
    assert len(names) == len(set(names))


def test_audit_logs_user_id_has_no_foreign_key() -> None:
    assert not _column("auth.audit_logs", "user_id").foreign_keys
    assert not _table("auth.audit_logs").foreign_key_constraints


@pytest.mark.parametrize("table", ["auth.sessions", "admin.user_preferences"])
def test_user_rows_are_deleted_with_their_user(table: str) -> None:
    (foreign_key,) = _column(table, "user_id").foreign_keys
    assert foreign_key.target_fullname == "auth.users.user_id"
    assert foreign_key.ondelete == "CASCADE"
