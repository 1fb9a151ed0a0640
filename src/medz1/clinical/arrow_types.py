"""The Arrow type of every medz1 column, as a binary COPY into PostgreSQL needs it.

Data files (Parquet, Arrow) that feed a table carry exactly the columns of
:func:`loadable_columns`, in table order, with the types of :func:`arrow_schema`. Columns
the database generates itself (identity and computed columns) are left out by default.

Timestamps are microseconds in UTC (PostgreSQL's resolution), JSON and UUID travel as
text, and ``numeric(p, s)`` becomes ``decimal128(p, s)`` so no value is rounded on the way.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Time,
    Uuid,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Arrow type of a UTC timestamp column (``timestamptz``).
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

#: The widest ``numeric`` that ``decimal128`` holds.
MAX_DECIMAL128_PRECISION = 38


class UnsupportedColumnTypeError(TypeError):
    """A column's SQL type has no Arrow equivalent for loading."""


def is_generated(column: Column[Any]) -> bool:
    """Whether the database generates the column's value (identity or computed column).

    Args:
        column: A column of a medz1 model table.

    Returns:
        True for ``GENERATED ... AS IDENTITY`` and ``GENERATED ALWAYS AS (...)`` columns.
    """
    return column.identity is not None or column.computed is not None


def loadable_columns(table: Table) -> list[Column[Any]]:
    """The columns a data file supplies for ``table``: all but the generated ones, in order.

    Args:
        table: A medz1 model table, e.g. ``PatientVital.__table__``.

    Returns:
        The table's columns without identity and computed columns, in table order.
    """
    return [column for column in table.columns if not is_generated(column)]


def arrow_schema(table: Table, *, include_generated: bool = False) -> pa.Schema:
    """The Arrow schema of a data file for ``table``.

    Args:
        table: A medz1 model table.
        include_generated: Also include identity and computed columns (e.g. ``vital_id``).

    Returns:
        One field per column, in table order, typed by :func:`arrow_type`, nullable as the
        column is.

    Raises:
        UnsupportedColumnTypeError: A column has a type with no Arrow equivalent.
    """
    columns = list(table.columns) if include_generated else loadable_columns(table)
    return pa.schema([pa.field(c.name, arrow_type(c), nullable=bool(c.nullable)) for c in columns])


def arrow_type(column: Column[Any]) -> pa.DataType:
    """The Arrow type of one column.

    Args:
        column: A column of a medz1 model table.

    Returns:
        The Arrow type a binary COPY of the column needs.

    Raises:
        UnsupportedColumnTypeError: The column's type has no Arrow equivalent.
    """
    sql_type = column.type
    found = _arrow_type_of(sql_type)
    # A TypeDecorator (e.g. UTCDateTime) travels as the type it decorates.
    while found is None and isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
        found = _arrow_type_of(sql_type)
    if found is None:
        raise UnsupportedColumnTypeError(
            f"no Arrow type for {column.table.fullname}.{column.name} of type {column.type!r}"
        )
    return found


def _arrow_type_of(sql_type: TypeEngine[Any]) -> pa.DataType | None:
    # Order matters: SmallInteger and BigInteger are Integers, Float is a Numeric.
    simple: list[tuple[type[TypeEngine[Any]], pa.DataType]] = [
        (Boolean, pa.bool_()),
        (SmallInteger, pa.int16()),
        (BigInteger, pa.int64()),
        (Integer, pa.int32()),
        (String, pa.string()),
        (JSON, pa.string()),
        (Uuid, pa.string()),
        (Date, pa.date32()),
        (Time, pa.time64("us")),
        (Interval, pa.duration("us")),
        (LargeBinary, pa.binary()),
    ]
    for sql_class, arrow in simple:
        if isinstance(sql_type, sql_class):
            return arrow
    if isinstance(sql_type, Float):
        return pa.float32() if (sql_type.precision or 53) <= 24 else pa.float64()
    if isinstance(sql_type, Numeric):
        return _decimal(sql_type)
    if isinstance(sql_type, DateTime):
        return UTC_TIMESTAMP if sql_type.timezone else pa.timestamp("us")
    if isinstance(sql_type, Vector):
        dim = getattr(sql_type, "dim", None)
        return pa.list_(pa.float32(), dim) if dim else pa.list_(pa.float32())
    return None


def _decimal(sql_type: Numeric[Any]) -> pa.DataType | None:
    precision, scale = sql_type.precision, sql_type.scale
    if precision is None or precision > MAX_DECIMAL128_PRECISION:
        return None  # unconstrained numeric: no fixed Arrow decimal holds every value
    return pa.decimal128(precision, scale or 0)
