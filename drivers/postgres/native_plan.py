"""Which results the native COPY decoder (_pgcopy) reads, and the Arrow batches it builds.

The decoder handles the common scalar types; `plan` maps a described result (name, type OID,
typmod per column) to the decoder's column kinds and to the Arrow schema, which is exactly the
schema the ADBC path yields for the same result (types.read_schema: the same types and the same
field metadata), so a step's output does not depend on the path that read it
(tests/drivers/test_native_copy_decoder_matches_adbc.py). A result with any other column type
(arrays, interval, enum, inet, numeric without a precision or above 38 digits, ...) gets no plan and is
read through ADBC, as is every result when the extension was not built (`decoder_module`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres.types import PG_TYPE_KEY, numeric_precision
from osiris.runtime.driver import DriverError

__all__ = ["NativePlan", "decode_error", "decoder_missing_reason", "decoder_module", "plan", "to_batch", "unsupported"]

_ADBC_TYPNAME_KEY = b"ADBC:postgresql:typname"
_TYPMOD_KEY = b"POSTGRESQL:typmod"
NUMERIC_OID = 1700

# OID -> (typname, decoder kind name, Arrow type); numeric is planned from its typmod
_SCALARS: dict[int, tuple[str, str, pa.DataType]] = {
    16: ("bool", "BOOL", pa.bool_()),
    17: ("bytea", "BYTEA", pa.binary()),
    19: ("name", "TEXT", pa.string()),
    20: ("int8", "INT8", pa.int64()),
    21: ("int2", "INT2", pa.int16()),
    23: ("int4", "INT4", pa.int32()),
    25: ("text", "TEXT", pa.string()),
    114: ("json", "TEXT", pa.json_()),
    700: ("float4", "FLOAT4", pa.float32()),
    701: ("float8", "FLOAT8", pa.float64()),
    1042: ("bpchar", "TEXT", pa.string()),
    1043: ("varchar", "TEXT", pa.string()),
    1082: ("date", "DATE", pa.date32()),
    1083: ("time", "TIME", pa.time64("us")),
    1114: ("timestamp", "TIMESTAMP", pa.timestamp("us")),
    1184: ("timestamptz", "TIMESTAMP", pa.timestamp("us", tz="UTC")),
    2950: ("uuid", "UUID", pa.uuid()),
    3802: ("jsonb", "JSONB", pa.json_()),
}
_VARIABLE = {"TEXT", "BYTEA", "JSONB"}

_module: ModuleType | None = None
_module_error: str | None = None


def decoder_module() -> ModuleType | None:
    """The compiled decoder, or None when it was not built (the install found no C compiler)."""
    global _module, _module_error
    if _module is None and _module_error is None:
        try:
            from osiris.drivers.postgres import _pgcopy
        except ImportError as error:
            _module_error = str(error)
        else:
            _module = _pgcopy
    return _module


def decoder_missing_reason() -> str | None:
    """Why `decoder_module()` is None (the import error), for the run's event and the tests."""
    decoder_module()
    return _module_error


@dataclass(frozen=True)
class NativePlan:
    """The decoder's columns and the Arrow schema its batches have."""

    kinds: tuple[tuple[int, int, int], ...]
    """(kind, precision, scale) per column, as _pgcopy.Decoder takes them."""
    schema: pa.Schema
    storage: tuple[pa.DataType, ...]
    """the type the buffers are built as (an extension type's storage)."""
    variable: tuple[bool, ...]
    """per column: buffers are (validity, offsets, data) rather than (validity, data)."""


def plan(columns: Sequence[tuple[str, int, int]]) -> NativePlan | None:
    """A plan for a result of `columns` (name, type OID, typmod), or None when the decoder
    cannot read one of them (the caller reads through ADBC) or is not built."""
    module = decoder_module()
    if module is None or not columns:
        return None
    kinds, fields, storage, variable = [], [], [], []
    for name, oid, typmod in columns:
        if oid == NUMERIC_OID:
            declared = numeric_precision(typmod)
            if declared is None or not (1 <= declared[0] <= 38 and 0 <= declared[1] <= declared[0]):
                return None
            precision, scale = declared
            kind, type_ = (module.DECIMAL, precision, scale), pa.decimal128(precision, scale)
            metadata = {_ADBC_TYPNAME_KEY: b"numeric", PG_TYPE_KEY: b"numeric", _TYPMOD_KEY: str(typmod).encode()}
            kind_name = "DECIMAL"
        elif oid in _SCALARS:
            typname, kind_name, type_ = _SCALARS[oid]
            kind = (getattr(module, kind_name), 0, 0)
            metadata = {PG_TYPE_KEY: typname.encode()}
        else:
            return None
        kinds.append(kind)
        fields.append(pa.field(name, type_, True, metadata))
        storage.append(type_.storage_type if isinstance(type_, pa.ExtensionType) else type_)
        variable.append(kind_name in _VARIABLE)
    return NativePlan(tuple(kinds), pa.schema(fields), tuple(storage), tuple(variable))


def unsupported(columns: Sequence[tuple[str, int, int]]) -> list[str]:
    """The columns `plan` refuses, as `name (type OID)`, for the event that says why ADBC reads."""
    refused = []
    for name, oid, typmod in columns:
        declared = numeric_precision(typmod) if oid == NUMERIC_OID else None
        if oid == NUMERIC_OID and not (declared and 1 <= declared[0] <= 38 and 0 <= declared[1] <= declared[0]):
            shape = f"({declared[0]},{declared[1]})" if declared else " without a precision"
            refused.append(f"{name} (numeric{shape})")
        elif oid != NUMERIC_OID and oid not in _SCALARS:
            refused.append(f"{name} (type OID {oid})")
    return refused


def to_batch(native: NativePlan, rows: int, buffers: Sequence[tuple[Any, Any, Any, int]]) -> pa.RecordBatch:
    """The decoder's buffers (from `Decoder.take`) as a record batch of `native.schema`, no copies."""
    arrays = []
    for field, storage, variable, (validity, offsets, data, nulls) in zip(
        native.schema, native.storage, native.variable, buffers, strict=True
    ):
        parts = [pa.py_buffer(validity) if validity is not None else None]
        if variable:
            parts.append(pa.py_buffer(offsets))
        parts.append(pa.py_buffer(data))
        array = pa.Array.from_buffers(storage, rows, parts, null_count=nulls)
        if isinstance(field.type, pa.ExtensionType):
            array = pa.ExtensionArray.from_storage(field.type, array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=native.schema)


def decode_error(error: BaseException, schema: pa.Schema, label: str) -> DriverError:
    """A DecodeError from the decoder as the message the ADBC path gives for the same value, or
    as a malformed stream (a server or proxy sent bytes that are not what the query described)."""
    module = decoder_module()
    code, column, text = error.args if len(error.args) == 3 else (0, -1, str(error))
    name = schema.field(column).name if 0 <= column < len(schema) else None
    if module is not None and code == module.ERR_RANGE and name is not None:
        return DriverError(
            f"column {name!r} holds 'infinity', '-infinity' or a date after 294247 AD, "
            "which Arrow's timestamp/date types cannot represent",
            hint=f"select NULLIF({name}, 'infinity') or LEAST({name}, '9999-12-31') in a `query`",
        )
    if module is not None and code == module.ERR_DECIMAL and name is not None:
        value = repr(text) if text in ("NaN", "Infinity", "-Infinity") else f"with {text}"
        return DriverError(
            f"column {name!r}: value {value} does not fit {schema.field(column).type}",
            hint=f"numeric NaN/Infinity have no decimal form; filter or cast {name!r} in a query",
        )
    where = f" in column {name!r}" if name is not None else ""
    return DriverError(
        f"PostgreSQL {label}: the server sent a malformed binary COPY stream{where}: {text}",
        hint="the server or a proxy in between answered with data that does not match the query's columns",
    )
