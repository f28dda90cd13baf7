"""Arrow type names as users write them in config (`schema: {amount: decimal128(12,2)}`).

The accepted spelling is what ``str(pa.DataType)`` prints for the scalar types
(``int64``, ``date32[day]``, ``timestamp[us, tz=UTC]``, ``decimal128(12, 2)``), so a type
shown by discovery can be pasted back, plus a few short forms (``date``, ``decimal(12,2)``).
"""

from __future__ import annotations

import difflib
import itertools
import re
import sys
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from osiris.runtime.driver import DriverError

__all__ = ["ArrowTypeError", "parse_arrow_type", "parse_schema_overrides"]

EXAMPLES = "int64, float64, string, bool, date32, decimal128(12,2), timestamp[us, tz=UTC]"

_SHORT_FORMS: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "integer": pa.int64(),
    "bigint": pa.int64(),
    "text": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
}
_ALIASES = (
    "null bool boolean int8 int16 int32 int64 uint8 uint16 uint32 uint64 halffloat float16 float "
    "float32 double float64 string str utf8 large_string large_str large_utf8 binary large_binary "
    "date32 date64 date32[day] date64[ms] time32[s] time32[ms] time64[us] time64[ns] "
    "timestamp[s] timestamp[ms] timestamp[us] timestamp[ns] duration[s] duration[ms] duration[us] "
    "duration[ns] month_day_nano_interval"
).split()

_DECIMAL = re.compile(r"^(decimal|decimal128|decimal256|numeric)\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)$")
_TIMESTAMP = re.compile(r"^timestamp\[\s*(s|ms|us|ns)\s*(?:,\s*tz\s*=\s*([^\]]+?)\s*)?\]$", re.IGNORECASE)
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


class ArrowTypeError(ValueError):
    """A type name that is not one we can build; carries a did-you-mean suggestion."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


def parse_arrow_type(text: str) -> pa.DataType:
    """Build the Arrow type a name stands for; raises `ArrowTypeError` for unknown names."""
    name = text.strip()
    lowered = name.lower()
    if lowered in _SHORT_FORMS:
        return _SHORT_FORMS[lowered]
    if match := _DECIMAL.match(lowered):
        return _decimal(match.group(1), int(match.group(2)), int(match.group(3) or 0), text)
    if match := _TIMESTAMP.match(name):
        unit, tz = match.group(1).lower(), match.group(2)
        if tz is not None:
            _check_timezone(tz, text)
        return pa.timestamp(unit, tz=tz)
    try:
        return pa.type_for_alias(lowered.replace(" ", ""))
    except ValueError:
        pass
    candidates = [*_SHORT_FORMS, *_ALIASES, "decimal128(p,s)", "timestamp[us, tz=UTC]"]
    close = difflib.get_close_matches(lowered, candidates, n=1, cutoff=0.6)
    raise ArrowTypeError(f"unknown Arrow type {text!r}", close[0] if close else None)


def parse_schema_overrides(schema: Mapping[str, str] | None) -> dict[str, pa.DataType]:
    """Parse a config `schema` mapping (column -> type name) into Arrow types.

    Raises `DriverError` naming the column, so the user sees which entry to fix.
    """
    parsed: dict[str, pa.DataType] = {}
    for column, type_name in (schema or {}).items():
        if not isinstance(type_name, str):
            raise DriverError(
                f"schema: the type of column {column!r} must be a string, got {type_name!r}",
                hint=f"write types as text, e.g. {EXAMPLES}",
            )
        try:
            parsed[column] = parse_arrow_type(type_name)
        except ArrowTypeError as error:
            did_you_mean = f"did you mean {error.suggestion!r}? " if error.suggestion else ""
            raise DriverError(
                f"schema: {error} for column {column!r}",
                hint=f"{did_you_mean}Arrow types look like {EXAMPLES}",
            ) from None
    return parsed


def _decimal(kind: str, precision: int, scale: int, text: str) -> pa.DataType:
    if not 1 <= precision <= 76:
        raise ArrowTypeError(f"decimal precision must be 1..76 in {text!r}")
    if scale > precision:
        raise ArrowTypeError(f"decimal scale is larger than its precision in {text!r}")
    if kind == "decimal256" or precision > 38:
        if kind == "decimal128":
            raise ArrowTypeError(f"decimal128 precision must be 1..38 in {text!r}", "decimal256")
        return pa.decimal256(precision, scale)
    return pa.decimal128(precision, scale)


def _check_timezone(tz: str, text: str) -> None:
    if _OFFSET.match(tz):
        return
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ArrowTypeError(f"unknown time zone {tz!r} in {text!r}", "timestamp[us, tz=UTC]") from None


def cast(array: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """`array.cast(target)` (a safe cast) by the kernel itself. `Array.cast` imports
    pyarrow.compute, which builds ~300 documented wrappers: ~25 ms alone and 100+ ms beside
    reader threads, paid before a read's first batch. pyarrow is pinned to 26.x (pyproject.toml)."""
    from pyarrow._compute import CastOptions

    return kernel("cast", array, options=CastOptions.safe(target))


def unsafe_cast(array: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """`array.cast(target, safe=False)` by the kernel itself (see `cast`): truncates, never raises
    on lost precision."""
    from pyarrow._compute import CastOptions

    return kernel("cast", array, options=CastOptions.unsafe(target))


def kernel(name: str, *args: Any, options: Any = None) -> Any:
    """Arrow's compute function `name` on `args` (arrays or scalars), called the way
    pyarrow.compute's wrappers call it, without importing them (see `cast`)."""
    from pyarrow._compute import call_function

    return call_function(name, list(args), options)


_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
_DISTINCT_BLOCK = 8192


def few_distinct(values: pa.ChunkedArray, limit: int) -> bool | None:
    """Whether the non-null values hold at most `limit` distinct ones; None for a type this does
    not read (nested, dictionary, boolean...). Counted with a Python set over the values' bytes,
    block by block, stopping once the answer is certain: Arrow's `count_distinct` kernel would be
    the first kernel call of a run, and the first call builds Arrow's whole function registry
    (~60 ms and ~38 MB of RSS, measured in docs/performance.md)."""
    seen: set[object] = set()
    unread = len(values)
    for chunk in values.chunks:
        blocks = _value_blocks(chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk)
        if blocks is None:
            return None
        for block, slots in blocks:
            seen.update(block)
            unread -= slots
            if len(seen) > limit:
                return False
            if len(seen) + unread <= limit:
                return True
    return len(seen) <= limit


def _value_blocks(array: pa.Array) -> Iterator[tuple[Sequence[object], int]] | None:
    """(the non-null values of the next _DISTINCT_BLOCK slots as hashable Python objects, slots)
    pairs: fixed-width values as unsigned integers of the same bytes (or the bytes when wider than
    8), strings and binaries as bytes; nulls left out by their validity bits."""
    type_ = array.type
    if pa.types.is_boolean(type_) or pa.types.is_dictionary(type_) or pa.types.is_nested(type_):
        return None
    count, first = len(array), array.offset
    try:
        if pa.types.is_string(type_) or pa.types.is_binary(type_) or pa.types.is_large_string(type_) \
                or pa.types.is_large_binary(type_):
            wide = pa.types.is_large_string(type_) or pa.types.is_large_binary(type_)
            as_bytes = array.view(pa.large_binary() if wide else pa.binary())
            return ((_without_none(as_bytes.slice(at, _DISTINCT_BLOCK).to_pylist()), min(_DISTINCT_BLOCK, count - at))
                    for at in range(0, count, _DISTINCT_BLOCK))
        width = type_.bit_width // 8  # ValueError for a type without a fixed width
    except (ValueError, TypeError, pa.ArrowException):  # a layout that is not plain values and offsets
        return None
    if width == 0 or width * 8 != type_.bit_width:
        return None
    data = memoryview(array.buffers()[1])[first * width:(first + count) * width]
    flags = (pa.Array.from_buffers(pa.bool_(), count, [None, array.buffers()[0]], offset=first).to_pylist()
             if array.null_count else None)

    def block(at: int) -> Sequence[object]:
        end = min(count, at + _DISTINCT_BLOCK)
        if width in _UNSIGNED:
            values: Sequence[object] = data[at * width:end * width].cast(_UNSIGNED[width])
        else:
            raw = bytes(data[at * width:end * width])
            values = [raw[i:i + width] for i in range(0, len(raw), width)]
        return list(itertools.compress(values, flags[at:end])) if flags is not None else values

    return ((block(at), min(_DISTINCT_BLOCK, count - at)) for at in range(0, count, _DISTINCT_BLOCK))


def _without_none(values: list[object]) -> list[object]:
    return [value for value in values if value is not None] if None in values else values


def value_bytes(array: pa.Array) -> memoryview:
    """The bytes a string or binary array's values occupy (its data buffer between its first and
    last offset), without a copy. A question about all the values at once (is there a backslash
    anywhere? how many bytes in all?) is then one memchr-speed pass, not a kernel call per value."""
    if not len(array):
        return memoryview(b"")
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    width = 8 if wide else 4
    offsets = memoryview(array.buffers()[1])

    def offset(i: int) -> int:
        return int.from_bytes(offsets[i * width:(i + 1) * width], sys.byteorder, signed=True)

    data = array.buffers()[2]
    start, end = offset(array.offset), offset(array.offset + len(array))
    return memoryview(data)[start:end] if data is not None and end > start else memoryview(b"")


def hex_array(array: pa.Array) -> pa.Array:
    """Lower-case hex text of each binary value (null stays null), built from the buffers.

    Writers spell binary as hex (MySQL's X'..', uuid text); a per-value `bytes.hex()` loop in
    Python was the slowest part of a batch with binary columns.
    """
    storage = array.storage if isinstance(array, pa.ExtensionArray) else array
    binary = cast(storage, pa.large_binary())
    if not len(binary):
        return pa.array([], pa.string())
    offsets = pa.Array.from_buffers(pa.int64(), len(binary) + 1, [None, binary.buffers()[1]], offset=binary.offset)
    text = bytes(value_bytes(binary)).hex().encode("ascii")
    doubled = kernel("multiply", kernel("subtract", offsets, offsets[0]), pa.scalar(2, pa.int64()))
    validity = binary.buffers()[0] if binary.offset == 0 else None
    result = pa.Array.from_buffers(pa.large_string(), len(binary), [validity, doubled.buffers()[1], pa.py_buffer(text)],
                                   null_count=binary.null_count if validity is not None else 0)
    if binary.null_count and validity is None:
        result = kernel("if_else", kernel("is_valid", binary), result, pa.scalar(None, pa.large_string()))
    return cast(result, pa.string())
