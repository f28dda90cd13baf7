"""Partitioned reads for mysql.extractor: plan key-range slices once, read one slice per task.

The key is the user's (`partitions.key`), else a table's single-column integer/date/datetime/
timestamp primary key; its range is cut by `drivers.common.key_ranges`. A slice is the same
read with one more filter (`Source.where` for a table, a wrapping SELECT for a query), so the
extractor still picks its bulk, cxstream or stream path per slice. connectorx takes no bound
parameters, so cut values are rendered here from typed values this module decoded.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pymysql

from osiris.drivers.common import key_ranges
from osiris.drivers.mysql.connect import ConnParams, classify, connect, quote_ident, split_table
from osiris.drivers.mysql.plan import WRAP_ALIAS, Source
from osiris.drivers.mysql.types import Column, column_from_field
from osiris.runtime.driver import DriverError, Partition, PartitionHints

__all__ = ["partitioned_source", "plan_partitions"]

ALIAS = "_osiris_part"
_KINDS = {"int": "int", "date": "date", "datetime": "timestamp", "timestamp": "timestamp",
          "decimal": "numeric", "float": "numeric"}
_PK_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "date", "datetime", "timestamp")


def _whole(why: str) -> list[Partition]:
    return [Partition(index=0, count=1, spec={"mode": "whole"}, label=f"one partition: {why}")]


def _columns(cur: Any, source: Source) -> list[Column]:
    cur.execute(f"SELECT * {source.from_clause} LIMIT 0")
    fields = cur._result.fields if cur._result else []  # noqa: SLF001
    cur.fetchall()
    return [column_from_field(f) for f in fields]


def _check_key(key: Any, columns: list[Column], where: str) -> Column:
    """The key's column, refused unless it is exactly a column of the source (before it reaches SQL)."""
    if not isinstance(key, str) or not key:
        raise DriverError(f"partitions: `key` must be a column name, got {key!r}")
    names = [c.name for c in columns]
    if key not in names:
        close = difflib.get_close_matches(key, names, n=1)
        did_you_mean = f"did you mean {close[0]!r}? " if close else ""
        raise DriverError(f"partitions: key {key!r} is not a column of {where}",
                          hint=f"{did_you_mean}columns: {', '.join(names)}")
    return columns[names.index(key)]


def _default_key(cur: Any, source: Source, params: ConnParams) -> str | None:
    """A table's single-column integer/date/datetime/timestamp primary key, else None."""
    schema, table = split_table(source.table or "")
    cur.execute("SELECT s.COLUMN_NAME, c.DATA_TYPE FROM information_schema.STATISTICS s "
                "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA "
                "AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
                "WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s AND s.INDEX_NAME = 'PRIMARY'",
                (schema or params.database, table))
    rows = cur.fetchall()
    if len(rows) == 1 and str(rows[0][1]).lower() in _PK_TYPES:
        return str(rows[0][0])
    return None


def _key_sql(source: Source, key: str) -> str:
    return f"{WRAP_ALIAS}.{quote_ident(key)}" if source.query else quote_ident(key)


def plan_partitions(params: ConnParams, config: Mapping[str, Any], hints: PartitionHints) -> list[Partition]:
    """Split the step's source into at most `hints.count` key-range slices."""
    source = Source.from_config(config)
    if config.get("limit"):
        return _whole("`limit` is set (slices would each apply it)")
    if hints.count <= 1 and hints.key is None:
        return _whole("one partition asked for")
    if source.query and hints.key is None:
        return _whole("a query without `partitions.key`")
    whole_source = replace(source, columns=())
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            columns = _columns(cur, whole_source)
            key = hints.key if hints.key is not None else \
                (_default_key(cur, source, params) if source.table else None)
            if key is None:
                return _whole("the table has no single-column integer/date primary key (set `partitions.key`)")
            column = _check_key(key, columns, "the query's result" if source.query else "the table")
            kind = _KINDS.get(column.kind)
            if kind is None:
                return _whole(f"key {key!r} is {column.kind}; only integer, date, datetime and numeric "
                              "keys are split")
            if hints.bounds is not None:
                if len(hints.bounds) != 2:
                    raise DriverError("partitions: `bounds` must be [low, high]")
                lo, hi = (key_ranges.coerce(kind, v, "bound") for v in hints.bounds)
            else:
                key_sql = _key_sql(whole_source, key)
                cur.execute(f"SELECT MIN({key_sql}), MAX({key_sql}) {whole_source.from_clause}")
                low, high = cur.fetchone()
                if low is None:
                    return _whole(f"no {key} values to split on")
                lo, hi = key_ranges.coerce(kind, low, "minimum"), key_ranges.coerce(kind, high, "maximum")
    except pymysql.MySQLError as error:
        raise classify(error, params, action="plan partitions") from None
    finally:
        conn.close()
    ranges = key_ranges.key_ranges(kind, lo, hi, hints.count)
    return [Partition(index=i, count=len(ranges), spec=key_ranges.to_spec(key, kind, part),
                      label=key_ranges.label(key, part)) for i, part in enumerate(ranges)]


def _render(value: Any) -> str:
    """A cut value as MySQL SQL, from a typed value: ints and decimals bare, dates quoted ISO text."""
    if isinstance(value, bool):
        raise DriverError(f"partition cut {value!r} is not a key value")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return "'" + value.replace(tzinfo=None).isoformat(sep=" ") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    raise DriverError(f"partition cut {value!r} is not a key value")


def partitioned_source(source: Source, spec: Mapping[str, Any]) -> Source:
    """The read of one slice: `source` narrowed by the slice's key range."""
    if spec.get("mode") == "whole":
        return source
    key, _kind, part = key_ranges.from_spec(spec)
    if source.query:
        predicate = key_ranges.condition(f"{ALIAS}.{quote_ident(key)}", part, _render)
        if not predicate:
            return source
        return replace(source, query=f"SELECT * FROM ({source.query}\n) AS {ALIAS} WHERE {predicate}")
    return replace(source, where=key_ranges.condition(quote_ident(key), part, _render))
