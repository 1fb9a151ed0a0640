"""The auth store's column lists come from its records and match the models: a column
renamed, dropped or made nullable in ``models/auth.py`` fails here, not in a query.
"""

from __future__ import annotations

import dataclasses
import types
import typing

import pytest

from medz1.auth.audit import AUDIT_COLUMNS, AuditRecord
from medz1.auth.records import SESSION_COLUMNS, USER_COLUMNS, SessionRecord, UserRecord
from medz1.models import metadata

#: Columns no record may carry (S25: the password hash and the token hash stay in the
#: database; only the login path reads them).
SECRET_COLUMNS = {"auth.users": {"password_hash"}, "auth.sessions": {"token_hash"}}

CASES = [
    ("auth.users", USER_COLUMNS, UserRecord),
    ("auth.sessions", SESSION_COLUMNS, SessionRecord),
    ("auth.audit_logs", AUDIT_COLUMNS, AuditRecord),
]


def _optional(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(annotation)


@pytest.mark.parametrize(("table", "columns", "record"), CASES)
def test_every_column_of_a_record_is_a_column_of_its_model(
    table: str, columns: tuple[str, ...], record: type
) -> None:
    assert columns == tuple(f.name for f in dataclasses.fields(record))
    assert set(columns) <= set(metadata.tables[table].c.keys())


@pytest.mark.parametrize(("table", "columns", "record"), CASES)
def test_no_record_carries_a_secret_column(
    table: str, columns: tuple[str, ...], record: type
) -> None:
    assert not set(columns) & SECRET_COLUMNS.get(table, set())


@pytest.mark.parametrize(("table", "columns", "record"), CASES)
def test_a_nullable_column_is_an_optional_field_unless_the_record_reads_a_default(
    table: str, columns: tuple[str, ...], record: type
) -> None:
    hints = typing.get_type_hints(record)
    model = metadata.tables[table]
    # from_row reads NULL in these flags and counts as the column's default.
    defaulted = {"is_active", "is_locked", "failed_login_attempts"}
    # The server fills these (identity, chain trigger) before a row can be read.
    server_filled = {"audit_id", "chain_seq", "row_hash"}
    loose = [
        column
        for column in columns
        if model.c[column].nullable
        and not _optional(hints[column])
        and column not in defaulted | server_filled
    ]
    assert loose == []
