"""Arrow batches -> MySQL text: multi-row INSERT literals or LOAD DATA file lines.

All of it runs as vectorised Arrow compute (casts, string replaces, element-wise joins), so
rendering costs a fraction of what per-value Python escaping (pymysql's executemany) does. The
kernels are called without importing pyarrow.compute, whose ~300 generated wrappers cost ~35 ms
before a write's first row (drivers/common/arrow_types.cast).
Both forms need the same preparation: booleans as 0/1, UTC for zoned timestamps (columns
are DATETIME), microseconds at most, binary as hex (decoded server-side), and no NaN or
infinity (MySQL has no such values).
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
from pyarrow._compute import JoinOptions, ReplaceSubstringOptions

from osiris.drivers.common.arrow_types import cast, hex_array, kernel, unsafe_cast, value_bytes
from osiris.runtime.driver import DriverError

__all__ = ["LOAD_FORMAT", "insert_values", "is_binary", "load_bytes", "prepare", "storage_type"]


def is_binary(kind: pa.DataType) -> bool:
    return (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
            or pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind))


def prepare(name: str, array: pa.Array) -> pa.Array:
    """A column in a form whose text cast is what MySQL reads back as the same value."""
    kind = array.type
    if isinstance(kind, pa.DictionaryType):
        return prepare(name, kernel("take", array.dictionary, array.indices))
    if isinstance(kind, pa.ExtensionType):
        return prepare(name, array.storage)
    if pa.types.is_boolean(kind):
        return cast(array, pa.int8())
    if pa.types.is_floating(kind):
        if pa.types.is_float16(kind):
            array = cast(array, pa.float32())
        bad = kernel("any", kernel("invert", kernel("is_finite", array))).as_py()
        if bad:
            raise DriverError(f"column {name!r} holds NaN or infinity, which MySQL cannot store",
                              hint="replace them with NULL upstream (e.g. nullif / CASE in a transform)")
        return array
    if pa.types.is_timestamp(kind):
        unit = "us" if kind.unit == "ns" else kind.unit
        return unsafe_cast(array, pa.timestamp(unit))
    if pa.types.is_time64(kind) and kind.unit == "ns":
        return unsafe_cast(array, pa.time64("us"))
    if pa.types.is_date64(kind):
        return cast(array, pa.date32())
    if is_binary(kind):
        return hex_array(array)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return cast(array, pa.string())
    return array


def _quoted_text(array: pa.Array) -> pa.Array:
    text = _replace_substring(array, "\\", "\\\\")
    text = _replace_substring(text, "'", "\\'")
    text = _replace_substring(text, "\x00", "\\0")
    return _join("'", text, "'", "")


def insert_values(batch: pa.RecordBatch) -> list[str]:
    """One `(v1,v2,...)` tuple per row, values as SQL literals."""
    columns = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        kind = array.type
        prepared = prepare(name, array)
        if pa.types.is_null(kind):
            literal = pa.array(["NULL"] * len(array), pa.string())
        elif is_binary(storage_type(kind)):
            literal = _join("X'", prepared, "'", "")
        elif pa.types.is_string(prepared.type):
            literal = _quoted_text(prepared)
        elif pa.types.is_temporal(prepared.type):
            literal = _join("'", cast(prepared, pa.string()), "'", "")
        else:
            literal = cast(prepared, pa.string())
        columns.append(_fill_null(literal, "NULL"))
    if not columns:
        return ["()"] * batch.num_rows
    rows = _join("(", _join(*columns, ","), ")", "")
    return rows.to_pylist()


def storage_type(kind: pa.DataType) -> pa.DataType:
    """The type whose values a column holds: dictionary values, extension storage."""
    if isinstance(kind, pa.DictionaryType):
        return storage_type(kind.value_type)
    if isinstance(kind, pa.ExtensionType):
        return kind.storage_type
    return kind


LOAD_FORMAT = ("CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
               "LINES TERMINATED BY '\\n' STARTING BY ''")
"""LOAD DATA's own text format (its defaults, spelled out): what `load_bytes` writes."""

_TSV = pacsv.WriteOptions(include_header=False, delimiter="\t", null_string="\\N", quoting_style="none")
_STRUCTURE = (("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
"""Bytes LOAD DATA would read as a field or line end; a `"` needs no escape (ENCLOSED BY '')."""


def _replace(array: pa.Array, pairs: tuple[tuple[str, str], ...]) -> pa.Array:
    """`array` (a string array) with each (raw, escaped) pair replaced in order. One search of
    all the values' bytes first skips the (usual) column that has none: a per-value
    `match_substring` took 0.6 CPU s of a 3M-row load, the byte search 0.03 s."""
    values = bytes(value_bytes(array))
    for raw, escaped in pairs:
        if raw.encode() in values:
            array = _replace_substring(array, raw, escaped)
            values = bytes(value_bytes(array))
    return array


def load_bytes(batch: pa.RecordBatch) -> bytes:
    """The batch in LOAD DATA's default text format (`LOAD_FORMAT`): tab-separated, NULL as
    `\\N`, backslash escapes in text, binary as hex.

    This is the format `mariadb`/`mysqldump --tab` write and the server parses fastest: against
    double-quoted CSV fields it measured ~4% less server CPU and 12% fewer bytes (docs/performance.md).
    pyarrow's CSV writer writes it, but refuses a tab, newline, CR or `"` in an unquoted field:
    such a batch is escaped and joined with Arrow compute instead, at about twice the cost.
    """
    arrays = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        prepared = prepare(name, array)
        if pa.types.is_null(prepared.type):
            prepared = pa.nulls(len(prepared), pa.string())
        elif pa.types.is_string(prepared.type):  # backslash first: the escapes added later stay single
            prepared = _replace(prepared, (("\\", "\\\\"), ("\x00", "\\0")))
        elif pa.types.is_timestamp(prepared.type) and prepared.type.unit != "s":
            prepared = _whole_seconds(prepared)
        arrays.append(prepared)
    sink = io.BytesIO()
    try:
        pacsv.write_csv(pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), sink, _TSV)
    except pa.ArrowInvalid:  # a tab, newline, carriage return or double quote in some text
        return _joined([_replace(a, _STRUCTURE) if pa.types.is_string(a.type) else a for a in arrays],
                       batch.num_rows)
    return sink.getvalue()


def _whole_seconds(array: pa.Array) -> pa.Array:
    """Timestamps in seconds when no value has a fraction: `12:00:37`, not `12:00:37.000`, is
    less for the server to parse; any fraction keeps the unit (and its digits)."""
    try:
        return cast(array, pa.timestamp("s"))
    except pa.ArrowInvalid:
        return array


def _joined(arrays: list[pa.Array], rows: int) -> bytes:
    """`load_bytes` without pyarrow's CSV writer: each value as text, tabs between, newline after."""
    if rows == 0:
        return b""
    columns = [_fill_null(a if pa.types.is_string(a.type) else cast(a, pa.string()), "\\N") for a in arrays]
    lines = _join(*columns, "\t") if columns else pa.array([""] * rows)
    lines = _join(lines, "", "\n")  # "" + "\n" + "": each line ends with a newline
    whole = pa.ListArray.from_arrays([0, len(lines)], cast(lines, pa.binary()))
    return kernel("binary_join", whole, pa.scalar(b"", pa.binary()))[0].as_buffer().to_pybytes()


def _replace_substring(array: pa.Array, pattern: str, replacement: str) -> pa.Array:
    return kernel("replace_substring", array, options=ReplaceSubstringOptions(pattern, replacement))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of `parts` with the last one as the separator (pyarrow.compute's
    binary_join_element_wise); a str part is the same text on every row."""
    return kernel("binary_join_element_wise", *(pa.scalar(p) if isinstance(p, str) else p for p in parts),
                  options=JoinOptions())


def _fill_null(array: pa.Array, text: str) -> pa.Array:
    return kernel("coalesce", array, pa.scalar(text, array.type))
