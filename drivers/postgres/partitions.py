"""Partitioned reads for postgres.extractor: plan slices once, read one slice per task.

A slice is a key range (`drivers.common.key_ranges`: the user's key, else a table's single-column
integer/date/timestamp primary key) or, for a table without one, a range of heap pages
(`ctid >= '(p,0)'::tid AND ctid < '(q,0)'::tid`, a TID range scan since PostgreSQL 14). Each
slice's SQL is today's SQL plus one predicate, so it still runs through ADBC's COPY reader, which
takes no bound parameters: cut values are rendered from typed values this module decoded (ints
bare, the rest as escaped literals), never from text it did not produce.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from osiris.drivers.common import key_ranges
from osiris.drivers.postgres.catalog import primary_key
from osiris.drivers.postgres.connect import (
    PgParams,
    close_quietly,
    literal,
    open_connection,
    qualified,
    quote_ident,
    split_table,
)
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.extract import describe, select_sql
from osiris.drivers.postgres.types import is_numeric
from osiris.runtime.driver import DriverError, Partition, PartitionHints

__all__ = ["partition_sql", "plan_partitions"]

ALIAS = "_osiris_part"
_DEFAULT_KINDS = ("int", "date", "timestamp")  # the kinds a primary key is split on unasked


def _whole(why: str) -> list[Partition]:
    return [Partition(index=0, count=1, spec={"mode": "whole"}, label=f"one partition: {why}")]


def _source(config: Mapping[str, Any], schema: str) -> str:
    """The rows a partition filters: the table itself (all columns), or the user's query."""
    if config.get("query"):
        return select_sql(config, schema)
    table = config.get("table")
    if not table:
        raise DriverError("the extractor needs either `query` or `table`")
    return f"SELECT * FROM {qualified(*split_table(str(table), schema))}"


def key_kind(field: pa.Field) -> str | None:
    """How a column's values are cut, or None when they are not (text, uuid, json, ...)."""
    if is_numeric(field) or pa.types.is_decimal(field.type) or pa.types.is_floating(field.type):
        return "numeric"
    if pa.types.is_integer(field.type):
        return "int"
    if pa.types.is_date(field.type):
        return "date"
    if pa.types.is_timestamp(field.type):
        return "timestamp"
    return None


def check_key(key: Any, columns: pa.Schema, where: str) -> str:
    """The key column, refused unless it is exactly a column of the source (before it reaches SQL)."""
    if not isinstance(key, str) or not key:
        raise DriverError(f"partitions: `key` must be a column name, got {key!r}")
    if key not in columns.names:
        close = difflib.get_close_matches(key, columns.names, n=1)
        did_you_mean = f"did you mean {close[0]!r}? " if close else ""
        raise DriverError(f"partitions: key {key!r} is not a column of {where}",
                          hint=f"{did_you_mean}columns: {', '.join(columns.names)}")
    return key


def _parse(kind: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return key_ranges.coerce(kind, text.replace(" ", "T", 1) if kind == "timestamp" else text)
    except DriverError:
        raise DriverError(f"partitions: the key's minimum or maximum {text!r} cannot be split on",
                          hint="give `partitions.bounds: [low, high]`") from None


def _key_partitions(cur: Any, params: PgParams, source: str, key: str, kind: str,
                    hints: PartitionHints) -> list[Partition]:
    if hints.bounds is not None:
        if len(hints.bounds) != 2:
            raise DriverError("partitions: `bounds` must be [low, high]")
        lo, hi = (key_ranges.coerce(kind, v, "bound") for v in hints.bounds)
    else:
        key_sql = f"{ALIAS}.{quote_ident(key)}"
        cur.execute(f"SELECT min({key_sql})::text, max({key_sql})::text FROM ({source}) AS {ALIAS}")
        low, high = cur.fetchone()
        lo, hi = _parse(kind, low), _parse(kind, high)
        if lo is None:
            return _whole(f"no {key} values to split on")
    ranges = key_ranges.key_ranges(kind, lo, hi, hints.count)
    return [Partition(index=i, count=len(ranges), spec=key_ranges.to_spec(key, kind, part),
                      label=key_ranges.label(key, part)) for i, part in enumerate(ranges)]


def _default_key(cur: Any, schema: str, table: str, columns: pa.Schema) -> str | None:
    """A single-column integer/date/timestamp primary key, else None."""
    keys = primary_key(cur, schema, table)
    if len(keys) == 1 and keys[0] in columns.names and key_kind(columns.field(keys[0])) in _DEFAULT_KINDS:
        return keys[0]
    return None


def _page_partitions(cur: Any, schema: str, table: str, count: int) -> list[Partition]:
    regclass = f"to_regclass({literal(qualified(schema, table))})"
    cur.execute(f"SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::int8 "
                f"FROM pg_class c WHERE c.oid = {regclass}")
    row = cur.fetchone()
    if row is None or row[0] not in ("r", "m"):
        return _whole("not a plain table, no key to split on (set `partitions.key`)")
    pages = int(row[1])
    if pages <= 1 or count <= 1:
        return _whole(f"{pages} page(s) and no key")
    ranges = key_ranges.key_ranges("int", 0, pages - 1, count)
    return [Partition(index=i, count=len(ranges), spec={"mode": "pages", "lo": part.lo, "hi": part.hi},
                      label=_page_label(part.lo, part.hi)) for i, part in enumerate(ranges)]


def _page_label(lo: int | None, hi: int | None) -> str:
    if lo is None:
        return f"pages < {hi}"
    return f"pages >= {lo}" if hi is None else f"pages [{lo}, {hi})"


def plan_partitions(params: PgParams, config: Mapping[str, Any], hints: PartitionHints) -> list[Partition]:
    """Split the step's source into at most `hints.count` slices (see the module docstring)."""
    if config.get("limit"):
        return _whole("`limit` is set (slices would each apply it)")
    if hints.count <= 1 and hints.key is None:
        return _whole("one partition asked for")
    source = _source(config, params.schema)
    conn = open_connection(params, autocommit=True)
    cur = conn.cursor()
    try:
        columns = describe(cur, f"SELECT * FROM ({source}) AS {ALIAS}", params)
        table = None if config.get("query") else split_table(str(config["table"]), params.schema)
        key = hints.key
        if key is None:
            key = _default_key(cur, *table, columns) if table else None
            if key is None:
                return _page_partitions(cur, *table, hints.count) if table else \
                    _whole("a query without `partitions.key`")
        check_key(key, columns, "the table" if table else "the query's result")
        kind = key_kind(columns.field(key))
        if kind is None:
            return _whole(f"key {key!r} is {columns.field(key).type}; only integer, date, timestamp "
                          "and numeric keys are split")
        return _key_partitions(cur, params, source, key, kind, hints)
    except DriverError:
        raise
    except Exception as error:  # noqa: BLE001
        raise classify(error, action="planning partitions", label=params.label, secrets=params.secrets) from None
    finally:
        close_quietly(cur, conn)


def _render(value: Any) -> str:
    """A cut value as SQL: ints bare, everything else an escaped untyped literal (the key's type)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    return literal(value.isoformat() if hasattr(value, "isoformat") else str(value))


def partition_sql(config: Mapping[str, Any], schema: str, spec: Mapping[str, Any]) -> str:
    """The SQL that reads one slice: today's select plus the slice's predicate."""
    mode = spec.get("mode", "key")
    if mode == "whole":
        return select_sql(config, schema)
    if mode == "pages":
        if not config.get("table"):
            raise DriverError("a page-range partition applies to a `table` read only")
        terms = [f"ctid {op} '({int(spec[end])},0)'::tid" for end, op in (("lo", ">="), ("hi", "<"))
                 if spec.get(end) is not None]
        return select_sql(config, schema, where=f" WHERE {' AND '.join(terms)}" if terms else "")
    key, _kind, part = key_ranges.from_spec(spec)
    if config.get("query"):
        predicate = key_ranges.condition(f"{ALIAS}.{quote_ident(key)}", part, _render)
        inner = select_sql(config, schema)
        return f"SELECT * FROM ({inner}) AS {ALIAS}" + (f" WHERE {predicate}" if predicate else "")
    predicate = key_ranges.condition(quote_ident(key), part, _render)
    return select_sql(config, schema, where=f" WHERE {predicate}" if predicate else "")
