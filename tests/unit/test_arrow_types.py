"""Arrow types of medz1 columns, as a binary COPY into PostgreSQL needs them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
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
    Interval,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import TypeEngine

from medz1.clinical.arrow_types import (
    UnsupportedColumnTypeError,
    arrow_schema,
    loadable_columns,
)
from medz1.db.types import UTCDateTime
from medz1.models import metadata


def _table(*columns: Column[Any]) -> Table:
    return Table("t", MetaData(), *columns)


@pytest.mark.parametrize(
    ("sql_type", "expected"),
    [
        (String(50), pa.string()),
        (Text(), pa.string()),
        (CHAR(1), pa.string()),
        (Integer(), pa.int32()),
        (BigInteger(), pa.int64()),
        (SmallInteger(), pa.int16()),
        (Numeric(5, 2), pa.decimal128(5, 2)),
        (Numeric(18, 6), pa.decimal128(18, 6)),
        (Boolean(), pa.bool_()),
        (Date(), pa.date32()),
        (UTCDateTime(), pa.timestamp("us", tz="UTC")),
        (DateTime(timezone=True), pa.timestamp("us", tz="UTC")),
        (JSONB(), pa.string()),
        (Uuid(), pa.string()),
    ],
)
def test_each_sql_type_maps_to_the_arrow_type_copy_needs(
    sql_type: TypeEngine[Any], expected: pa.DataType
) -> None:
    schema = arrow_schema(_table(Column("c", sql_type)))
    assert schema.field("c").type == expected


def test_identity_columns_are_left_out_by_default() -> None:
    table = metadata.tables["public.patient_vitals"]
    assert "vital_id" not in arrow_schema(table).names
    assert arrow_schema(table).names[0] == "patient_key"


def test_include_generated_keeps_identity_columns_in_table_order() -> None:
    table = metadata.tables["public.patient_vitals"]
    schema = arrow_schema(table, include_generated=True)
    assert schema.names == [c.name for c in table.columns]


def test_field_nullability_follows_the_column() -> None:
    schema = arrow_schema(metadata.tables["public.patient_vitals"])
    assert not schema.field("vital_sign_id").nullable
    assert schema.field("bmi").nullable


def test_loadable_columns_are_all_but_identity_columns() -> None:
    table = _table(Column("id", Integer, Identity(), primary_key=True), Column("name", String(10)))
    assert [c.name for c in loadable_columns(table)] == ["name"]


#: Tables written only by medz1 itself, never from a data file: ``ai.ddi_cache`` keeps
#: computed interaction results keyed by a ``text[]`` medication set.
_COMPUTED = {"ai.ddi_cache"}


@pytest.mark.parametrize(
    "table",
    [t for t in metadata.sorted_tables if t.fullname not in _COMPUTED],
    ids=lambda t: t.fullname,
)
def test_every_medz1_table_has_an_arrow_schema(table: Table) -> None:
    assert len(arrow_schema(table, include_generated=True)) == len(table.columns)


@pytest.mark.parametrize("sql_type", [ARRAY(Integer), Numeric()])
def test_a_type_without_arrow_equivalent_is_refused_by_name(sql_type: TypeEngine[Any]) -> None:
    with pytest.raises(UnsupportedColumnTypeError, match=r"t\.c"):
        arrow_schema(_table(Column("c", sql_type)))


def test_an_interval_is_a_duration_not_the_timestamp_it_emulates() -> None:
    schema = arrow_schema(_table(Column("c", Interval())))
    assert schema.field("c").type == pa.duration("us")
