"""MySQL result columns -> Arrow types, and raw column values -> Arrow arrays.

The Arrow type of a column comes from the result set's column metadata (type code, length,
scale, flags, charset), so a table, a view and an arbitrary query are typed the same way and
both read paths (connectorx bulk and the pymysql stream) agree. The choices:

========================  ==============================================================
MySQL                     Arrow
========================  ==============================================================
TINYINT(1), BOOLEAN       bool (non-zero is true)
BIT(1) / BIT(n > 1)       bool / uint64
TINYINT..BIGINT           int8..int64; UNSIGNED -> uint8..uint64 (MEDIUMINT -> int32)
FLOAT / DOUBLE            float32 / float64
DECIMAL(p,s)              decimal128(p,s) for p <= 38, decimal256(p,s) above (never float)
DATE                      date32
DATETIME                  timestamp[us] (no time zone: DATETIME has none)
TIMESTAMP                 timestamp[us, tz=UTC] (the session runs in UTC, so values are UTC)
TIME                      time64[us]; values outside 00:00-24:00 are an error (see below)
YEAR                      int16
CHAR/VARCHAR/TEXT, ENUM,  string
SET, JSON
BINARY/VARBINARY/BLOB,    binary
GEOMETRY
NULL (e.g. SELECT NULL)   null
========================  ==============================================================

JSON stays a plain string column: MariaDB stores JSON as LONGTEXT and its result metadata
cannot tell them apart, and every downstream format takes strings.
FLOAT is exact on both paths for table reads (the stream path selects it as DOUBLE, since
the text protocol prints FLOAT with 6 significant digits); a `query` read on the stream path
gets the server's 6-digit text unless the query casts it (CAST(col AS DOUBLE)).
MySQL TIME is also used for durations up to +-838:59:59; such values have no time-of-day
Arrow type, so reading one fails with a hint to cast it in the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from pymysql.constants import FIELD_TYPE, FLAG

from osiris.drivers.common.arrow_types import cast
from osiris.runtime.driver import DriverError

__all__ = ["Column", "column_from_field", "to_arrow"]

_BINARY_CHARSET = 63
_INTS = {
    FIELD_TYPE.TINY: (pa.int8(), pa.uint8()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.uint16()),
    FIELD_TYPE.INT24: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONGLONG: (pa.int64(), pa.uint64()),
}
_TEXTLIKE = {
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
    FIELD_TYPE.ENUM,
    FIELD_TYPE.SET,
}


@dataclass(frozen=True)
class Column:
    """One result column: its name, Arrow type and how it travels.

    `kind` names the conversion from the wire value: int, float, decimal, bool (TINYINT(1)),
    bit, date, datetime, timestamp, time, year, text, binary, json, null.
    """

    name: str
    arrow: pa.DataType
    kind: str
    precision: int = 0
    scale: int = 0
    nullable: bool = True

    @property
    def is_integer(self) -> bool:
        return self.kind == "int"


def _decimal(precision: int, scale: int) -> pa.DataType:
    precision = max(precision, 1)
    if precision <= 38:
        return pa.decimal128(precision, scale)
    return pa.decimal256(precision, scale)


def column_from_field(field: object) -> Column:
    """Map a pymysql `FieldDescriptorPacket` to a Column."""
    code = field.type_code  # type: ignore[attr-defined]
    flags = field.flags  # type: ignore[attr-defined]
    length = field.length  # type: ignore[attr-defined]
    scale = field.scale  # type: ignore[attr-defined]
    name = field.name  # type: ignore[attr-defined]
    unsigned = bool(flags & FLAG.UNSIGNED)
    nullable = not flags & FLAG.NOT_NULL
    binary = field.charsetnr == _BINARY_CHARSET  # type: ignore[attr-defined]

    def col(arrow: pa.DataType, kind: str, precision: int = 0, scale_: int = 0) -> Column:
        return Column(name, arrow, kind, precision, scale_, nullable)

    if code == FIELD_TYPE.TINY and length == 1 and not unsigned:
        return col(pa.bool_(), "bool")
    if code in _INTS:
        return col(_INTS[code][1 if unsigned else 0], "int")
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        precision = length - (0 if unsigned else 1) - (1 if scale > 0 else 0)
        return col(_decimal(precision, scale), "decimal", precision, scale)
    if code == FIELD_TYPE.FLOAT:
        return col(pa.float32(), "float")
    if code == FIELD_TYPE.DOUBLE:
        return col(pa.float64(), "float")
    if code == FIELD_TYPE.BIT:
        return col(pa.bool_() if length == 1 else pa.uint64(), "bit")
    if code in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return col(pa.date32(), "date")
    if code == FIELD_TYPE.DATETIME:
        return col(pa.timestamp("us"), "datetime")
    if code == FIELD_TYPE.TIMESTAMP:
        return col(pa.timestamp("us", tz="UTC"), "timestamp")
    if code == FIELD_TYPE.TIME:
        return col(pa.time64("us"), "time")
    if code == FIELD_TYPE.YEAR:
        return col(pa.int16(), "year")
    if code == FIELD_TYPE.JSON:
        return col(pa.string(), "json")
    if code == FIELD_TYPE.NULL:
        return col(pa.null(), "null")
    if code in _TEXTLIKE:
        return col(pa.binary(), "binary") if binary else col(pa.string(), "text")
    if code == FIELD_TYPE.GEOMETRY:
        return col(pa.binary(), "binary")
    return col(pa.binary() if binary else pa.string(), "binary" if binary else "text")


def schema_of(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow, nullable=c.nullable) for c in columns])


# --- raw wire values -> Arrow (the streaming path) ----------------------------------------
# The streaming cursor runs without pymysql's Python-level converters: text comes as str,
# binary as bytes, and Arrow's vectorised casts parse numbers, decimals and dates.


def _parse_time(value: str, column: str) -> int | None:
    negative = value.startswith("-")
    hours, minutes, seconds = value.lstrip("-").split(":")
    whole, _, fraction = seconds.partition(".")
    total = (int(hours) * 3600 + int(minutes) * 60 + int(whole)) * 1_000_000 + int((fraction + "000000")[:6])
    if negative or total >= 86_400_000_000:
        raise time_range_error(column, value)
    return total


def time_array(column: Column, text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """TIME text (``HH:MM:SS[.ffffff]``) -> time64[us], vectorised.

    Each value is read as a timestamp on 1970-01-01, whose microseconds since the epoch are
    the time of day. Arrow refuses hours outside 0-23 and signs, so durations (negative or
    >= 24h) fail the cast; the per-value parser then names the offending value.
    """
    import pyarrow.compute as pc  # TIME columns only

    try:
        stamps = pc.cast(pc.binary_join_element_wise("1970-01-01 ", text, ""), pa.timestamp("us"))
    except pa.ArrowInvalid:
        try:
            micros = [None if v is None else _parse_time(v, column.name) for v in text.to_pylist()]
        except ValueError as error:
            raise DriverError(
                f"cannot convert column {column.name!r} (time) to {column.arrow}: {error}",
                hint="cast the column in the query to a type Arrow can hold",
            ) from None
        return pa.array(micros, pa.int64()).cast(pa.time64("us"))
    return stamps.cast(pa.int64()).cast(pa.time64("us"))


def time_range_error(column: str, value: str) -> DriverError:
    return DriverError(
        f"column {column!r} holds the TIME value {value}, which is not a time of day",
        hint="MySQL TIME can hold durations; read it as text (CAST(col AS CHAR)) or seconds "
        "(TIME_TO_SEC(col)) in the query",
    )


def to_arrow(column: Column, values: Sequence[object]) -> pa.Array:
    """Build the column's Arrow array from raw values (str, bytes or None)."""
    import pyarrow.compute as pc  # the stream path's parse; the bulk path never calls this

    kind, target = column.kind, column.arrow
    try:
        if kind in ("int", "float", "decimal", "year", "date", "datetime"):
            return pc.cast(pa.array(values, pa.string()), target)
        if kind == "timestamp":
            return pc.cast(pa.array(values, pa.string()), pa.timestamp("us")).cast(target)
        if kind == "bool":
            return pc.cast(pa.array(values, pa.string()), pa.int8()).cast(pa.bool_())
        if kind in ("text", "json"):
            return pa.array(values, pa.string())
        if kind == "binary":
            return pa.array(values, pa.binary())  # str and bytes both arrive as bytes
        if kind == "bit":
            ints = [None if v is None else int.from_bytes(_as_bytes(v), "big") for v in values]
            return pa.array(ints, pa.uint64()).cast(target)
        if kind == "time":
            return time_array(column, pa.array(values, pa.string()))
        if kind == "null":
            return pa.nulls(len(values))
    except DriverError:
        raise
    except (pa.ArrowInvalid, ValueError) as error:
        raise DriverError(
            f"cannot convert column {column.name!r} ({kind}) to {target}: {error}",
            hint="cast the column in the query to a type Arrow can hold",
        ) from None
    raise AssertionError(kind)


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


# --- connectorx output -> our types (the bulk path) ---------------------------------------


def bulk_select_expr(column: Column, quoted: str) -> str:
    """The SELECT expression that makes connectorx return a value we can convert exactly.

    connectorx reads DECIMAL through a 96-bit decimal rescaled to scale 10, so wide or
    finely scaled decimals travel as text; BIT travels as an unsigned integer. TIME travels
    as text too: connectorx panics on durations (negative or >= 24h), while the stream
    path's parser reports them clearly.
    """
    if (column.kind == "decimal" and not cx_decimal_safe(column)) or column.kind == "time":
        return f"CAST({quoted} AS CHAR) AS {quoted}"
    if column.kind == "bit":
        return f"CAST({quoted} AS UNSIGNED) AS {quoted}"
    return quoted


def cx_decimal_safe(column: Column) -> bool:
    """True when connectorx's decimal128(38,10) holds the column's values exactly."""
    return column.scale <= 10 and (column.precision - column.scale) + 10 <= 28


def fix_bulk_array(column: Column, array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Cast a connectorx column to the type the streaming path produces."""
    target = column.arrow
    if array.type == target:
        return array
    if column.kind == "timestamp":
        return cast(cast(array, pa.timestamp("us")), target)
    if column.kind == "null":
        return pa.nulls(len(array))
    if column.kind == "time":
        return time_array(column, cast(array, pa.string()))
    return cast(array, target)
