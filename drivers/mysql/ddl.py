"""CREATE TABLE from an Arrow schema (for `create_if_missing` and replace staging tables).

The mapping is the inverse of `drivers.mysql.types`, so a table read by the extractor and
written back with `create_if_missing` gets the same column types:

================================  ===========================================
Arrow                             MySQL
================================  ===========================================
bool                              TINYINT(1)
int8..int64 / uint8..uint64       TINYINT..BIGINT / ... UNSIGNED
float16, float32 / float64        FLOAT / DOUBLE
decimal128/256(p,s)               DECIMAL(p,s) (p <= 65, 0 <= s <= 30)
string, large_string              LONGTEXT; VARCHAR(255) in a primary key
binary, large_binary              LONGBLOB; VARBINARY(255) in a primary key
fixed_size_binary(n), n <= 255    BINARY(n)
date32, date64                    DATE
timestamp[s|ms|us|ns]             DATETIME / DATETIME(3) / DATETIME(6)
timestamp with a time zone        the same DATETIME, holding UTC
time32/time64                     TIME / TIME(3) / TIME(6)
arrow.json extension              JSON
null                              LONGTEXT (every value NULL)
dictionary<values>                the values' type
================================  ===========================================

A time zone-aware timestamp becomes DATETIME (UTC), not TIMESTAMP: TIMESTAMP only holds
1970-2038 and has implicit default/update rules. LONGTEXT rather than TEXT because TEXT
stops at 64 KB and a pipeline cannot know its longest value in advance.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from osiris.drivers.mysql.connect import quote_ident
from osiris.runtime.driver import DriverError

__all__ = ["create_table_sql", "mysql_type", "staging_table_sql"]

_INTS = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
    pa.uint8(): "TINYINT UNSIGNED", pa.uint16(): "SMALLINT UNSIGNED", pa.uint32(): "INT UNSIGNED",
    pa.uint64(): "BIGINT UNSIGNED",
}
_FRACTION = {"s": "", "ms": "(3)", "us": "(6)", "ns": "(6)"}


def mysql_type(field: pa.Field, *, key: bool = False) -> str:
    """The MySQL column type for an Arrow field (raises DriverError for unsupported types)."""
    kind = field.type
    if isinstance(kind, pa.DictionaryType):
        return mysql_type(pa.field(field.name, kind.value_type), key=key)
    if isinstance(kind, pa.ExtensionType):
        if getattr(kind, "extension_name", "") == "arrow.json":
            return "JSON"
        return mysql_type(pa.field(field.name, kind.storage_type), key=key)
    if pa.types.is_boolean(kind):
        return "TINYINT(1)"
    if kind in _INTS:
        return _INTS[kind]
    if pa.types.is_float16(kind) or pa.types.is_float32(kind):
        return "FLOAT"
    if pa.types.is_float64(kind):
        return "DOUBLE"
    if pa.types.is_decimal(kind):
        if kind.precision > 65 or not 0 <= kind.scale <= 30:
            raise DriverError(f"column {field.name!r} is {kind}; MySQL DECIMAL allows precision <= 65 "
                              "and scale 0..30", hint="cast the column to a narrower decimal or to float64")
        return f"DECIMAL({kind.precision},{kind.scale})"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "VARCHAR(255)" if key else "LONGTEXT"
    if pa.types.is_fixed_size_binary(kind) and kind.byte_width <= 255:
        return f"BINARY({kind.byte_width})"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind) \
            or pa.types.is_binary_view(kind):
        return "VARBINARY(255)" if key else "LONGBLOB"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "DATETIME" + _FRACTION[kind.unit]
    if pa.types.is_time(kind):
        return "TIME" + _FRACTION[kind.unit]
    if pa.types.is_null(kind):
        return "LONGTEXT"
    raise DriverError(
        f"column {field.name!r} has the Arrow type {kind}, which the MySQL writer cannot store",
        hint="convert it first, e.g. in a DuckDB transform (nested values: to_json(col); "
        "durations: epoch seconds)",
    )


def _column_lines(schema: pa.Schema, keys: Sequence[str]) -> list[str]:
    """One definition per field; `keys` get key types (VARCHAR(255), not LONGTEXT) and NOT NULL."""
    lines = []
    for field in schema:
        is_key = field.name in keys
        null = " NOT NULL" if is_key or not field.nullable else " NULL"
        lines.append(f"  {quote_ident(field.name)} {mysql_type(field, key=is_key)}{null}")
    return lines


def _check_keys(schema: pa.Schema, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in schema.names]
    if missing:
        raise DriverError(f"`primary_key` names {missing[0]!r}, which the input does not have",
                          hint=f"the input's columns are: {', '.join(schema.names)}")


def _create(table_sql: str, lines: Sequence[str]) -> str:
    body = ",\n".join(lines)
    return f"CREATE TABLE {table_sql} (\n{body}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"


def create_table_sql(table_sql: str, schema: pa.Schema, keys: Sequence[str]) -> str:
    """CREATE TABLE for `schema`; `keys` become the primary key (and NOT NULL)."""
    _check_keys(schema, keys)
    lines = _column_lines(schema, keys)
    if keys:
        lines.append(f"  PRIMARY KEY ({', '.join(quote_ident(k) for k in keys)})")
    return _create(table_sql, lines)


def staging_table_sql(table_sql: str, schema: pa.Schema, keys: Sequence[str], ordinal: str) -> str:
    """CREATE TABLE for one staged partition: the columns `create_table_sql` would give the
    target (so `CREATE TABLE ... LIKE` the staging table builds the same target), no key
    constraint (a key may repeat across the stream), and a last `ordinal` column that numbers
    the rows in load order (an upsert keeps the last row of a key)."""
    _check_keys(schema, keys)
    lines = _column_lines(schema, keys)
    lines.append(f"  {quote_ident(ordinal)} BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
    return _create(table_sql, lines)
