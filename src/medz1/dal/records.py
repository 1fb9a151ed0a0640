"""Shared machinery of the patient read layer: SQL that returns JSON, and JSON back to records.

Every patient read is one SQL *expression* that evaluates to JSON: a record is a JSON
array of its fields' values in the order the dataclass declares them (positional, so the
field names are not repeated in every row), a list of records an array of those. A
per-domain function runs ``SELECT (<expression>)::text``; :func:`medz1.dal.chart.patient_chart`
puts all of them into one ``json_build_object(...)``, so the whole chart is a single
statement. Both paths decode the same JSON with :func:`decode` and build records with
:func:`build`, so a domain read alone and the same domain read inside the chart cannot
disagree.

JSON carries no types, so :func:`build` converts by the record's annotations: ISO strings
to aware UTC ``datetime`` or ``date``, numbers to ``Decimal`` (parsed from their text, never
through ``float``), arrays to tuples of nested records or of values.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from psycopg import sql
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

R = TypeVar("R")
Converter = Callable[[Any], Any]


def columns(record: type[Any], alias: str, *, skip: Iterable[str] = ()) -> str:
    """The SELECT list ``alias."field", ...`` of a record's fields, minus ``skip``.

    Field names are the med-z1 contract's column names; they are quoted as identifiers,
    never interpolated as values.
    """
    skipped = set(skip)
    names = [f.name for f in dataclasses.fields(record) if f.name not in skipped]
    return sql.SQL(", ").join(sql.Identifier(alias, name) for name in names).as_string()


def json_rows(select: str, record: type[Any], *, order: str) -> str:
    """An expression: the rows of ``select`` as a JSON array of ``record`` arrays, in ``order``.

    ``select`` must name its output columns after the record's fields. ``order`` (over the
    subquery ``q``) is applied by the aggregate itself: the order of a subquery's rows is
    not guaranteed to survive aggregation. No rows give ``[]``.
    """
    return (
        f"(SELECT coalesce(json_agg({_array(record)} ORDER BY {order}), '[]'::json) "
        f"FROM ({select}) q)"
    )


def json_row(select: str, record: type[Any]) -> str:
    """An expression: the one row of ``select`` as a ``record`` array, or ``null`` when none."""
    return f"(SELECT {_array(record)} FROM ({select}) q)"


def row_array(record: type[Any], alias: str) -> str:
    """An expression: the ``record`` fields of the row ``alias`` as a JSON array."""
    return f"json_build_array({columns(record, alias)})"


def _array(record: type[Any]) -> str:
    return row_array(record, "q")


def fetch(session: Session, expression: str, params: Mapping[str, Any]) -> Any:
    """Evaluate one JSON expression in one statement and decode it."""
    statement = _STATEMENTS.get(expression)
    if statement is None:
        # Expressions are module constants, so this cache stays small.
        statement = _STATEMENTS[expression] = text(f"SELECT ({expression})::text")
    return decode(session.execute(statement, dict(params)).scalar_one())


_STATEMENTS: dict[str, TextClause] = {}


def decode(raw: str | None) -> Any:
    """Decode JSON text from PostgreSQL; numbers with a fraction become ``Decimal``."""
    return None if raw is None else json.loads(raw, parse_float=Decimal)


def build(record: type[R], values: Sequence[Any]) -> R:
    """A ``record`` from one decoded JSON array of its field values, converted by annotation."""
    names, converters = _plan(record)
    converted = list(values)
    if len(converted) != len(names):
        raise ValueError(f"{record.__name__}: {len(converted)} values for {len(names)} fields")
    for index, convert in converters:
        value = converted[index]
        if value is not None:
            converted[index] = convert(value)
    # A frozen dataclass's __init__ sets every field through object.__setattr__, which makes
    # it the slowest step of reading a chart. Records have no __post_init__ or defaults to
    # apply, so filling the instance dict directly builds the identical (still frozen) object.
    instance = object.__new__(record)
    instance.__dict__.update(zip(names, converted, strict=True))
    return instance


def build_all(record: type[R], items: Iterable[Sequence[Any]]) -> list[R]:
    """Records from a decoded JSON array of record arrays."""
    return [build(record, item) for item in items]


def _to_datetime(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)


def _to_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _to_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _converter(hint: Any) -> Converter | None:
    if get_origin(hint) in (Union, types.UnionType):
        inner = [arg for arg in get_args(hint) if arg is not type(None)]
        return _converter(inner[0]) if len(inner) == 1 else None
    if hint is datetime:
        return _to_datetime
    if hint is date:
        return _to_date
    if hint is Decimal:
        return _to_decimal
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        if dataclasses.is_dataclass(item):
            nested: type[Any] = item  # type: ignore[assignment]
            return lambda value: tuple(build(nested, v) for v in value)
        convert = _converter(item)
        if convert is None:
            return tuple
        return lambda value: tuple(convert(v) for v in value)
    return None


_PLANS: dict[type[Any], tuple[tuple[str, ...], tuple[tuple[int, Converter], ...]]] = {}


def _plan(record: type[Any]) -> tuple[tuple[str, ...], tuple[tuple[int, Converter], ...]]:
    """The record's field names, and (position, converter) of those converted from JSON."""
    found = _PLANS.get(record)
    if found is None:
        hints = get_type_hints(record)
        fields = dataclasses.fields(record)
        converters = [_converter(hints[f.name]) for f in fields]
        found = (
            tuple(f.name for f in fields),
            tuple((i, c) for i, c in enumerate(converters) if c is not None),
        )
        _PLANS[record] = found
    return found
