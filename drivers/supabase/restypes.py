"""Types on the REST path: PostgREST's OpenAPI column formats -> Arrow, JSON rows <-> Arrow.

JSON carries no types, so the Arrow schema comes from the OpenAPI document PostgREST serves at
``GET /rest/v1/`` (each column's ``format`` is its PostgreSQL type without modifiers). Two
precautions keep values exact:

* ``numeric`` and ``json``/``jsonb`` columns are requested as ``col::text``: JSON numbers would
  be parsed as floats, and re-serialising parsed JSON would change its text. OpenAPI does not
  carry numeric precision, so a numeric arrives as a *string* of its exact digits (field
  metadata ``POSTGRESQL:type=numeric``), the same choice the Postgres path makes for an
  unconstrained numeric; a ``numeric(p,s)`` format, if a server reports one, becomes decimal128.
* values that do not fit the declared type raise a DriverError naming the column.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from osiris.drivers.postgres.types import PG_TYPE_KEY
from osiris.runtime.driver import DriverError

__all__ = ["ColumnPlan", "arrow_type", "plan_columns", "rows_to_batch", "to_json_rows"]

_SCALARS: dict[str, pa.DataType] = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "character varying": pa.string(),
    "character": pa.string(),
    "uuid": pa.uuid(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
    "date": pa.date32(),
    "time without time zone": pa.time64("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "bytea": pa.binary(),
}
_AS_TEXT = {"numeric", "json", "jsonb"}
_DECIMAL = re.compile(r"^numeric\((\d+),\s*(-?\d+)\)$")


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    """Key in the JSON rows (and the Arrow field name)."""
    request: str
    """Item for PostgREST's `select` (e.g. ``amount::text``)."""
    field: pa.Field


def _simple_array(pg_format: str) -> bool:
    inner = _SCALARS.get(pg_format[:-2]) if pg_format.endswith("[]") else None
    return inner is not None and not isinstance(inner, pa.ExtensionType)


def _as_text(pg_format: str | None) -> bool:
    """Columns requested as ``::text``: numerics, JSON, and arrays of anything but plain scalars."""
    if pg_format is None:
        return False
    if pg_format.endswith("[]"):
        return not _simple_array(pg_format)
    return pg_format.split("(")[0] in _AS_TEXT


def arrow_type(pg_format: str | None) -> pa.DataType:
    """Arrow type for an OpenAPI column format; unknown types (enums, inet, ...) become string."""
    if pg_format is None:
        return pa.json_()
    if pg_format.endswith("[]"):
        return pa.list_(_SCALARS[pg_format[:-2]]) if _simple_array(pg_format) else pa.string()
    if match := _DECIMAL.match(pg_format):
        precision, scale = int(match.group(1)), int(match.group(2))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    return _SCALARS.get(pg_format, pa.string())


def _plan(name: str, source: str, pg_format: str | None) -> ColumnPlan:
    request = source if name == source else f"{name}:{source}"
    if _as_text(pg_format):
        request += "::text"
    metadata = {PG_TYPE_KEY: pg_format.encode()} if pg_format else None
    return ColumnPlan(name, request, pa.field(name, arrow_type(pg_format), metadata=metadata))


_PLAIN = re.compile(r"^(?:([A-Za-z_][\w$]*):)?([A-Za-z_][\w$]*)$")


def plan_columns(select: str, formats: Mapping[str, str | None]) -> list[ColumnPlan]:
    """Plan the select list: `*` or plain names get typed plans; anything else comes back as JSON."""
    from osiris.drivers.supabase.filters import split_top

    if select.strip() in ("", "*"):
        return [_plan(name, name, fmt) for name, fmt in formats.items()]
    plans = []
    for item in split_top(select):
        match = _PLAIN.match(item)
        if match and match.group(2) in formats:
            plans.append(_plan(match.group(1) or match.group(2), match.group(2), formats[match.group(2)]))
        elif match:
            raise DriverError(
                f"select: column {match.group(2)!r} is not in the table", hint=f"columns: {list(formats)}"
            )
        else:
            key = item.split(":", 1)[0] if re.match(r"^[A-Za-z_][\w$]*:", item) else item.split("::")[0]
            plans.append(ColumnPlan(key, item, pa.field(key, pa.json_())))
    return plans


# --- JSON -> Arrow ------------------------------------------------------------------------------


def _column_array(values: list[Any], type_: pa.DataType, column: str) -> pa.Array:
    try:
        if isinstance(type_, pa.UuidType):
            storage = pa.array([None if v is None else uuid.UUID(v).bytes for v in values], pa.binary(16))
            return pa.ExtensionArray.from_storage(type_, storage)
        if isinstance(type_, pa.JsonType):
            texts = [v if isinstance(v, str) or v is None else json.dumps(v) for v in values]
            return pa.ExtensionArray.from_storage(type_, pa.array(texts, pa.string()))
        if pa.types.is_timestamp(type_) or pa.types.is_date(type_) or pa.types.is_decimal(type_):
            return pc.cast(pa.array(values, pa.string()), type_)
        if pa.types.is_time(type_):
            return pa.array([None if v is None else dt.time.fromisoformat(v) for v in values], type_)
        if pa.types.is_binary(type_):
            return pa.array([None if v is None else _bytea(v) for v in values], type_)
        if pa.types.is_floating(type_):
            return pa.array([None if v is None else float(v) for v in values], type_)
        if pa.types.is_string(type_):
            return pa.array([v if isinstance(v, str) or v is None else json.dumps(v) for v in values], type_)
        return pa.array(values, type_)
    except (ValueError, TypeError, pa.ArrowException) as error:
        raise DriverError(f"column {column!r}: REST value does not fit {type_}: {error}") from None


def _bytea(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("\\x") else base64.b64decode(text)


def rows_to_batch(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = [_column_array([row.get(f.name) for row in rows], f.type, f.name) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- Arrow -> JSON ------------------------------------------------------------------------------


def _float(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dt.timedelta):
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
    if isinstance(value, pa.MonthDayNano):
        return f"{value.months} mons {value.days} days {value.nanoseconds // 1000} microseconds"
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return str(value)


def _converter(field: pa.Field) -> Callable[[Any], Any]:
    if isinstance(field.type, pa.JsonType):
        return lambda v: None if v is None else json.loads(v)
    return _plain


def to_json_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """JSON-ready rows: decimals as strings (exact), bytes as \\x hex, JSON text parsed back to values."""
    names = batch.schema.names
    columns = [
        [convert(v) for v in batch.column(i).to_pylist()]
        for i, convert in enumerate(_converter(f) for f in batch.schema)
    ]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] if names else []
