"""PostgreSQL <-> Arrow types: what reads produce and what writes send.

Reads. ADBC already maps most types well (int2/4/8, float4/8, bool, text, bytea -> binary,
date, time, timestamp -> timestamp[us], timestamptz -> timestamp[us, tz=UTC], interval ->
month_day_nano_interval, arrays -> list, uuid -> arrow.uuid, json/jsonb -> arrow.json). Two
things need repair:

* every ``numeric`` arrives as an opaque string. A column with a declared precision becomes
  ``decimal128(p, s)`` (``decimal256`` above 38 digits), read from the typmod ADBC attaches to
  the field. An unconstrained ``numeric`` (or one above 76 digits) stays a *string* holding the
  exact digits: any fixed decimal would round or overflow some legal value, and we would rather
  hand over text than silently change numbers. Its field metadata keeps
  ``POSTGRESQL:type=numeric`` so a writer recreates a numeric column. Elements of numeric
  arrays carry no typmod, so ``numeric[]`` becomes ``list<string>`` the same way.
* other types ADBC cannot decode (enum, inet, cidr, macaddr, xml, timetz, money, bit, ranges,
  geometric types, tsvector, ...) arrive as opaque binary in PostgreSQL's wire format or, for
  money, as an int64 of cents. The extractor rewrites those columns to ``::text`` so users get
  PostgreSQL's own text form.

Writes. ADBC's COPY encodes each Arrow type as one PostgreSQL binary type, so a batch is first
normalised to types ADBC encodes exactly (uint64 -> decimal128(20,0), uint32 -> int64,
dictionary -> values, ...), and `pg_type` names the column type a table created for that
stream should have.
"""

from __future__ import annotations

import pyarrow as pa

from osiris.runtime.driver import DriverError

__all__ = [
    "PG_TYPE_KEY",
    "copy_compatible",
    "is_numeric",
    "needs_text_cast",
    "normalize_batch",
    "normalize_schema",
    "numeric_precision",
    "pg_type",
    "read_schema",
    "restore_batch",
]

PG_TYPE_KEY = b"POSTGRESQL:type"
_TYPMOD_KEY = b"POSTGRESQL:typmod"
_MAX_DECIMAL256 = 76
# ADBC shifts PostgreSQL's 2000-01-01 epoch to 1970 without overflow checks: +/-infinity and
# timestamps after 294247 AD come out wrapped, far below PostgreSQL's own minimum (4713 BC).
_MIN_TS_US = -210866803200000000
_MIN_DATE = -2440588


def numeric_precision(typmod: int) -> tuple[int, int] | None:
    """(precision, scale) of a numeric typmod, None when unconstrained."""
    if typmod < 4:
        return None
    raw = typmod - 4
    precision = (raw >> 16) & 0xFFFF
    scale = ((raw & 0x7FF) ^ 1024) - 1024
    return precision, scale


def _is_opaque(type_: pa.DataType) -> bool:
    return isinstance(type_, pa.OpaqueType)


def _is_numeric(type_: pa.DataType) -> bool:
    return _is_opaque(type_) and type_.type_name == "numeric"


def is_numeric(field: pa.Field) -> bool:
    """A numeric (or numeric[]) column: cheaper to fetch as text and parse into decimals here."""
    type_ = field.type
    return _is_numeric(type_.value_type if pa.types.is_list(type_) else type_)


def needs_text_cast(field: pa.Field) -> bool:
    """True for columns ADBC cannot decode; the extractor selects them as ``::text``."""
    type_ = field.type
    if pa.types.is_list(type_):
        return needs_text_cast(type_.value_field)
    if _is_opaque(type_):
        return not _is_numeric(type_)
    return (field.metadata or {}).get(PG_TYPE_KEY) == b"money"


def _restored_type(field: pa.Field) -> pa.DataType:
    type_ = field.type
    if needs_text_cast(field):
        return pa.list_(pa.string()) if pa.types.is_list(type_) else pa.string()
    if pa.types.is_list(type_):
        inner = _restored_type(type_.value_field)
        return type_ if inner == type_.value_type else pa.list_(inner)
    if not _is_opaque(type_):
        return type_
    if _is_numeric(type_):
        typmod = int((field.metadata or {}).get(_TYPMOD_KEY, b"-1"))
        declared = numeric_precision(typmod)
        if declared and declared[0] <= 38:
            return pa.decimal128(*declared)
        if declared and declared[0] <= _MAX_DECIMAL256:
            return pa.decimal256(*declared)
    return pa.string()


def read_schema(adbc_schema: pa.Schema) -> pa.Schema:
    """The schema the extractor yields for a result ADBC describes as `adbc_schema`."""
    return pa.schema(
        [pa.field(f.name, _restored_type(f), f.nullable, f.metadata) for f in adbc_schema],
        metadata=adbc_schema.metadata,
    )


def _restore_array(array: pa.Array, target: pa.DataType, column: str) -> pa.Array:
    if array.type == target:
        return array
    if pa.types.is_list(target):
        values = _restore_array(array.values, target.value_type, column)
        return pa.ListArray.from_arrays(array.offsets, values, type=target, mask=array.is_null())
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    if pa.types.is_decimal(target):
        try:
            return storage.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_non_decimal(storage)
            raise DriverError(
                f"column {column!r}: value {bad!r} does not fit {target}",
                hint=f"numeric NaN/Infinity have no decimal form; filter or cast {column!r} in a query",
            ) from None
    return storage


def _first_non_decimal(strings: pa.Array) -> str:
    for value in strings.to_pylist():
        if value is not None and not value.lstrip("-").replace(".", "", 1).isdigit():
            return value
    return "?"


def _check_range(array: pa.Array, type_: pa.DataType, column: str) -> None:
    if pa.types.is_timestamp(type_):
        raw, lowest = array.view(pa.int64()), _MIN_TS_US
    elif pa.types.is_date32(type_):
        raw, lowest = array.view(pa.int32()), _MIN_DATE
    else:
        return
    import pyarrow.compute as pc  # only the ADBC path checks ranges; the native read need not import it

    smallest = pc.min(raw).as_py()
    if smallest is not None and smallest < lowest:
        raise DriverError(
            f"column {column!r} holds 'infinity', '-infinity' or a date after 294247 AD, "
            "which Arrow's timestamp/date types cannot represent",
            hint=f"select NULLIF({column}, 'infinity') or LEAST({column}, '9999-12-31') in a `query`",
        )


def restore_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Convert one ADBC batch to `schema` (from `read_schema`): decimals, plain strings."""
    columns = []
    for index, field in enumerate(schema):
        array = batch.column(index)
        _check_range(array, field.type, field.name)
        columns.append(_restore_array(array, field.type, field.name))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# --- writes ---------------------------------------------------------------------------------

_NORMAL: dict[pa.DataType, pa.DataType] = {
    pa.int8(): pa.int16(),
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
    pa.float16(): pa.float32(),
    pa.date64(): pa.date32(),
    pa.null(): pa.string(),
    pa.large_binary(): pa.binary(),
    pa.large_string(): pa.string(),
    pa.string_view(): pa.string(),
    pa.binary_view(): pa.binary(),
}


def _normal_type(type_: pa.DataType, column: str) -> pa.DataType:
    if type_ in _NORMAL:
        return _NORMAL[type_]
    if isinstance(type_, (pa.UuidType, pa.JsonType)):
        return type_
    if isinstance(type_, pa.ExtensionType):
        return _normal_type(type_.storage_type, column)
    if pa.types.is_dictionary(type_):
        return _normal_type(type_.value_type, column)
    if pa.types.is_timestamp(type_):
        return pa.timestamp("us", tz="UTC" if type_.tz else None)
    if pa.types.is_time(type_):
        return pa.time64("us")
    if pa.types.is_duration(type_):
        return pa.month_day_nano_interval()
    if pa.types.is_fixed_size_binary(type_):
        return pa.binary()
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_fixed_size_list(type_):
        return pa.list_(_normal_type(type_.value_type, column))
    if pa.types.is_decimal32(type_) or pa.types.is_decimal64(type_):
        return pa.decimal128(type_.precision, type_.scale)
    if pa.types.is_nested(type_) or pa.types.is_union(type_):
        raise DriverError(
            f"column {column!r} has type {type_}, which PostgreSQL writes do not support",
            hint="turn structs and maps into JSON text upstream (e.g. DuckDB's to_json)",
        )
    return type_


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a stream is cast to before COPY: types ADBC encodes exactly."""
    return pa.schema([pa.field(f.name, _normal_type(f.type, f.name), f.nullable, f.metadata) for f in schema])


def normalize_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    columns = []
    for array, field in zip(batch.columns, schema, strict=True):
        if array.type != field.type:
            if isinstance(array.type, pa.ExtensionType) and not isinstance(field.type, pa.ExtensionType):
                array = array.storage
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            safe = not (pa.types.is_time(field.type) or pa.types.is_timestamp(field.type))
            try:
                array = array.cast(field.type, safe=safe)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise DriverError(
                    f"column {field.name!r}: cannot convert {array.type} to {field.type}: {error}"
                ) from None
        columns.append(array)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


_SCALAR_PG = {
    pa.bool_(): "boolean",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.binary(): "bytea",
    pa.date32(): "date",
    pa.time64("us"): "time",
    pa.timestamp("us"): "timestamp",
    pa.timestamp("us", tz="UTC"): "timestamptz",
    pa.month_day_nano_interval(): "interval",
}
_KEPT_TEXT_TYPES = {b"numeric": "numeric", b"json": "json", b"jsonb": "jsonb", b"uuid": "uuid"}


def pg_type(field: pa.Field) -> str:
    """Column type for a normalised field in a table the writer creates."""
    type_ = field.type
    if isinstance(type_, pa.UuidType):
        return "uuid"
    if isinstance(type_, pa.JsonType):
        return "jsonb"
    if pa.types.is_decimal(type_):
        return f"numeric({type_.precision},{type_.scale})"
    if pa.types.is_list(type_):
        return pg_type(type_.value_field) + "[]"
    if type_ == pa.string():
        declared = (field.metadata or {}).get(PG_TYPE_KEY, b"")
        return _KEPT_TEXT_TYPES.get(declared.lstrip(b"_"), "text")
    try:
        return _SCALAR_PG[type_]
    except KeyError:
        raise DriverError(f"column {field.name!r}: no PostgreSQL type for Arrow {type_}") from None


_COPY_TARGETS = {
    "smallint": {"int2"},
    "integer": {"int4"},
    "bigint": {"int8"},
    "real": {"float4"},
    "double precision": {"float8"},
    "boolean": {"bool"},
    "text": {"text", "varchar", "bpchar"},
    "bytea": {"bytea"},
    "date": {"date"},
    "time": {"time"},
    "timestamp": {"timestamp"},
    "timestamptz": {"timestamptz"},
    "interval": {"interval"},
    "uuid": {"uuid"},
    "jsonb": {"jsonb", "json"},
}


def copy_compatible(field: pa.Field, target_typname: str) -> bool:
    """True when ADBC's binary COPY encoding of `field` is valid input for the target column."""
    type_ = field.type
    if pa.types.is_list(type_):
        return target_typname.startswith("_") and copy_compatible(type_.value_field, target_typname[1:])
    if pa.types.is_decimal(type_):
        return target_typname == "numeric"
    if type_ == pa.string():
        return target_typname in _COPY_TARGETS["text"]
    return target_typname in _COPY_TARGETS.get(pg_type(field), ())
