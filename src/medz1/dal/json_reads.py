"""Shared machinery of the patient read layer: typed reads, SQL that returns JSON, records.

Every patient read is a :class:`JsonRead`: one SQL *expression* that evaluates to JSON,
the frozen dataclass of its bound parameters (each field is one ``:name`` of the SQL,
checked when the module is imported, so the parameter names are no unwritten contract),
and the function that turns the decoded JSON into its result (one record, a list of
records). ``read.run(session, params)`` only accepts the read's own parameter type, so
mypy rejects a mismatched parameter. :mod:`medz1.dal.chart` puts the expressions of
several reads into one ``json_build_object(...)`` whose parameter type must hold every
part's parameters (also checked at import).

A record is a JSON array of its fields' values in the order the dataclass declares them
(positional, so field names are not repeated in every row), a list of records an array of
those. JSON carries no types, so :func:`build` converts by the record's annotations: ISO
strings to aware UTC ``datetime`` or ``date``, ``Decimal`` fields (sent by the server as
JSON strings, so no digit goes through ``float``) to ``Decimal``, arrays to tuples of
nested records or of values. JSON is decoded with orjson.

Facts relative to the present (age, days until expiration, "recent", review status) are
computed by the SQL from the parameter ``as_of`` (:data:`AS_OF`), never read from columns
the loader froze at load time.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson
from psycopg import sql
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

R = TypeVar("R")
P = TypeVar("P")
Converter = Callable[[Any], Any]

#: The moment time-relative facts are computed for: the bound parameter ``as_of``.
AS_OF = "CAST(:as_of AS timestamptz)"
#: The calendar day of :data:`AS_OF` in UTC (ages are counted in whole calendar years).
AS_OF_DAY = "(CAST(:as_of AS timestamptz) AT TIME ZONE 'UTC')::date"

_BIND = re.compile(r"(?<![:\w]):(\w+)")


def bind_names(statement: str) -> frozenset[str]:
    """The ``:name`` bound parameters of SQL text (``::type`` casts are not parameters)."""
    return frozenset(_BIND.findall(statement))


@dataclass(frozen=True)
class JsonRead(Generic[P, R]):
    """One read: a JSON expression, the type of its parameters, the builder of its result.

    Attributes:
        expression: SQL evaluating to JSON; its ``:name`` parameters are exactly the fields
            of ``params``.
        params: The frozen dataclass of the bound parameters.
        result: Turns the decoded JSON into the read's result.

    Raises:
        TypeError: At construction, when the expression's parameters and the fields of
            ``params`` differ (a misspelt or forgotten parameter).
    """

    expression: str
    params: type[P]
    result: Callable[[Any], R]
    statement: TextClause = field(init=False, repr=False, compare=False)
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(f.name for f in dataclasses.fields(self.params))  # type: ignore[arg-type]
        used = bind_names(self.expression)
        if used != set(names):
            raise TypeError(
                f"{self.params.__name__} has {sorted(names)} but the SQL binds {sorted(used)}"
            )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "statement", text(f"SELECT ({self.expression})::text"))

    def raw(self, session: Session, params: P) -> str | None:
        """The read's JSON text exactly as the server produced it (None for SQL NULL)."""
        return session.execute(self.statement, bind(params, self.names)).scalar_one()  # type: ignore[no-any-return]

    def run(self, session: Session, params: P) -> R:
        """Execute the read in one statement and build its result."""
        return self.result(decode(self.raw(session, params)))


def bind(params: Any, names: Iterable[str]) -> dict[str, Any]:
    """The bound-parameter mapping of a parameter dataclass."""
    return {name: getattr(params, name) for name in names}


def one(record: type[R]) -> Callable[[Any], R | None]:
    """Result builder of a read returning one record array or ``null``."""

    def result(data: Any) -> R | None:
        return None if data is None else build(record, data)

    return result


def many(record: type[R]) -> Callable[[Any], list[R]]:
    """Result builder of a read returning an array of record arrays."""

    def result(data: Any) -> list[R]:
        return build_all(record, data)

    return result


def exactly(record: type[R]) -> Callable[[Any], R]:
    """Result builder of a read that always returns one record array."""

    def result(data: Any) -> R:
        return build(record, data)

    return result


def columns(
    record: type[Any],
    alias: str,
    *,
    skip: Iterable[str] = (),
    computed: Mapping[str, str] | None = None,
) -> str:
    """The SELECT list ``alias."field", ...`` of a record's fields, minus ``skip``.

    Field names are the med-z1 contract's column names; they are quoted as identifiers,
    never interpolated as values. ``computed`` maps a field to the SQL expression that
    replaces the stored column (``<expression> AS "field"``), for facts computed when read.
    """
    skipped = set(skip)
    overrides = computed or {}
    parts: list[str] = []
    for f in dataclasses.fields(record):
        if f.name in skipped:
            continue
        if f.name in overrides:
            parts.append(f"{overrides[f.name]} AS {sql.Identifier(f.name).as_string()}")
        else:
            parts.append(sql.Identifier(alias, f.name).as_string())
    return ", ".join(parts)


def json_rows(select: str, record: type[Any], *, order: str) -> str:
    """An expression: the rows of ``select`` as a JSON array of ``record`` arrays, in ``order``.

    ``select`` must name its output columns after the record's fields. ``order`` (over the
    subquery ``q``) is applied by the aggregate itself: the order of a subquery's rows is
    not guaranteed to survive aggregation. No rows give ``[]``.
    """
    return (
        f"(SELECT coalesce(pg_catalog.json_agg({_array(record)} ORDER BY {order}), '[]'::json) "
        f"FROM ({select}) q)"
    )


def json_row(select: str, record: type[Any]) -> str:
    """An expression: the one row of ``select`` as a ``record`` array, or ``null`` when none."""
    return f"(SELECT {_array(record)} FROM ({select}) q)"


def row_array(record: type[Any], alias: str) -> str:
    """An expression: the ``record`` fields of the row ``alias`` as a JSON array.

    ``Decimal`` fields are sent as JSON strings (``"12.50"``) so that decoding never
    turns them into binary floats.
    """
    hints = get_type_hints(record)
    values = []
    for f in dataclasses.fields(record):
        column = sql.Identifier(alias, f.name).as_string()
        values.append(f"{column}::text" if _is_decimal(hints[f.name]) else column)
    return f"pg_catalog.json_build_array({', '.join(values)})"


def _is_decimal(hint: Any) -> bool:
    if get_origin(hint) in (Union, types.UnionType):
        return any(arg is Decimal for arg in get_args(hint))
    return hint is Decimal


def _array(record: type[Any]) -> str:
    return row_array(record, "q")


def decode(raw: str | bytes | None) -> Any:
    """Decode JSON text from PostgreSQL (orjson); None for SQL NULL."""
    return None if raw is None else orjson.loads(raw)


def build(record: type[R], values: Sequence[Any]) -> R:
    """A ``record`` from one decoded JSON array of its field values, converted by annotation.

    Raises:
        ValueError: the array does not hold one value per field of ``record``.
    """
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


def replaced(record: R, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` to some fields (as :func:`build` makes one)."""
    instance = object.__new__(type(record))
    instance.__dict__.update(record.__dict__)
    instance.__dict__.update(changes)
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
