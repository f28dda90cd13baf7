"""Hash exchange: one table -> `buckets` tables by a hash of its key columns.

The bucket of a row must depend only on its key VALUES, never on the column types or on the
process: a join's two sides are split in different tasks (maybe on different hosts, with keys
typed int32 on one side and DECIMAL on the other), and equal keys must meet in one bucket. So the
keys are normalised first (every number -> DOUBLE, every date/timestamp -> TIMESTAMP in UTC,
text -> VARCHAR) and hashed by DuckDB's `hash()`, which is deterministic, unlike Python's `hash()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from osiris.runtime.driver import DriverError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["key_family", "split_by_hash"]


def split_by_hash(table: pa.Table, keys: Sequence[str], buckets: int) -> list[pa.Table]:
    """`buckets` tables with the input's schema; each row in exactly one, input order kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    if not keys:
        raise DriverError("a hash exchange needs at least one key column", hint="set `partitions: {by: [...]}`")
    keys = [_column_name(table, k) for k in keys]
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise DriverError(
            f"hash key column(s) {', '.join(missing)} not in the input",
            hint=f"columns: {', '.join(table.column_names)}",
        )
    if buckets == 1:
        return [table]
    if table.num_rows == 0:
        return [table.slice(0, 0) for _ in range(buckets)]
    bucket_of = _bucket_numbers(table, keys, buckets)
    return [table.filter(pc.equal(bucket_of, pa.scalar(b, pa.int64()))) for b in range(buckets)]


def _column_name(table: pa.Table, key: str) -> str:
    """The column `key` names; SQL identifiers are case-insensitive in DuckDB, so `Country` is `country`."""
    if key in table.column_names:
        return key
    same = [name for name in table.column_names if name.lower() == key.lower()]
    return same[0] if len(same) == 1 else key


def _bucket_numbers(table: pa.Table, keys: Sequence[str], buckets: int) -> pa.Array:
    """Bucket number per row, in input order."""
    import duckdb
    import pyarrow as pa

    columns = {}
    for i, key in enumerate(keys):
        column = table.column(key)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[f"k{i}"] = column
    columns["_row"] = pa.array(range(table.num_rows), pa.int64())
    keyed = pa.table(columns)
    normalised = ", ".join(_normalise(f'"k{i}"', keyed.schema.field(f"k{i}").type) for i in range(len(keys)))
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("keyed", keyed)
        result = con.sql(
            f"SELECT (hash({normalised}) % {int(buckets)})::BIGINT AS b FROM keyed ORDER BY _row"
        ).to_arrow_table()
    finally:
        con.close()
    return result.column("b").combine_chunks()


def _normalise(column: str, arrow_type: pa.DataType) -> str:
    """SQL that maps equal values of different types to one value (and one hash)."""
    import pyarrow as pa

    t = pa.types
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return f"(CAST({column} AS DOUBLE) + 0.0)"  # + 0.0 turns -0.0 into 0.0
    if t.is_boolean(arrow_type):
        return f"CAST({column} AS DOUBLE)"
    if t.is_timestamp(arrow_type) and arrow_type.tz is not None:
        return f"CAST(CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP)"  # the session is UTC
    if t.is_date(arrow_type) or t.is_timestamp(arrow_type):
        return f"CAST({column} AS TIMESTAMP)"
    if (
        t.is_string(arrow_type)
        or t.is_large_string(arrow_type)
        or getattr(t, "is_string_view", lambda _: False)(arrow_type)
    ):
        return f"CAST({column} AS VARCHAR)"
    return column


def key_family(schema: pa.Schema, column: str) -> str | None:
    """The kind of value a hash key holds, as far as hashing it alike across inputs goes: integers,
    decimals and doubles compare as DOUBLE (the exchange's normal form); a REAL, text, a date or
    timestamp, a zoned timestamp each only with its own kind; None for a column it cannot find."""
    import pyarrow as pa

    names = {name.lower(): name for name in schema.names}
    if column.lower() not in names:
        return None
    kind = schema.field(names[column.lower()]).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_float32(kind) or pa.types.is_float16(kind):
        return "real"
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_floating(kind):
        return "number"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if pa.types.is_date(kind):
        return "timestamp"
    return str(kind)
