"""Deciding how to read: the bulk path's key-range plan, or why the stream path is used.

The bulk path needs an integer key to split the read: `partition_on`, else (for a table)
the first column of the primary key. A query is read in bulk only with `partition_on`, by
wrapping it as a derived table; its own ORDER BY is then not kept (ranges come in key order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.bulk import BulkPlan
from osiris.drivers.mysql.connect import ConnParams, classify, connect, qualified, quote_ident, split_table
from osiris.drivers.mysql.types import Column, column_from_field
from osiris.runtime.driver import DriverError

__all__ = ["Source", "plan_bulk"]

_INTEGER_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
WRAP_ALIAS = "_osiris_q"


@dataclass(frozen=True)
class Source:
    """The configured read: a table (with optional columns) or a query."""

    table: str | None
    query: str | None
    columns: tuple[str, ...] = ()
    where: str = ""
    """A table read's row filter, SQL built by `partitions.py` from values it rendered (one slice)."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Source:
        table, query = config.get("table"), config.get("query")
        if bool(table) == bool(query):
            raise DriverError(
                "the MySQL extractor needs exactly one of `table` or `query`",
                hint="give `table: name` to read a table, or `query: SELECT ...`",
            )
        columns = tuple(config.get("columns") or ())
        if columns and not table:
            raise DriverError("`columns` applies to `table` reads only", hint="list the columns in the query")
        query_text = str(query).strip().rstrip(";").strip() if query else None
        return cls(table=str(table) if table else None, query=query_text, columns=columns)

    @property
    def select_list(self) -> str:
        return ", ".join(quote_ident(c) for c in self.columns) if self.columns else "*"

    def stream_sql(self, limit: int | None, columns: Sequence[Column] = ()) -> str:
        """SQL for the stream path; a table read gets its LIMIT server-side.

        Given the table's `columns`, FLOAT ones are selected as DOUBLE: the text protocol
        prints FLOAT with 6 significant digits, DOUBLE prints the stored float32 exactly.
        """
        if self.query:
            return self.query
        select = self.select_list
        if columns:
            select = ", ".join(
                f"CAST({quote_ident(c.name)} AS DOUBLE) AS {quote_ident(c.name)}"
                if c.arrow == pa.float32() else quote_ident(c.name) for c in columns)
        sql = f"SELECT {select} FROM {qualified(self.table or '')}"
        if self.where:
            sql += f" WHERE {self.where}"
        return sql + (f" LIMIT {int(limit)}" if limit else "")

    @property
    def from_clause(self) -> str:
        if self.query:
            return f"FROM ({self.query}\n) AS {WRAP_ALIAS}"  # the newline ends a trailing `#`/`--` comment
        if self.where:  # a derived table, so the bulk path's own `WHERE <key range>` still follows
            return f"FROM (SELECT * FROM {qualified(self.table or '')} WHERE {self.where}) AS {WRAP_ALIAS}"
        return f"FROM {qualified(self.table or '')}"


def _fetch(cur: pymysql.cursors.Cursor, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
    cur.execute(sql, args or None)
    return list(cur.fetchall())


def _probe_columns(cur: pymysql.cursors.Cursor, sql: str) -> list[Column]:
    cur.execute(sql)
    fields = cur._result.fields if cur._result else []  # noqa: SLF001
    cur.fetchall()
    return [column_from_field(f) for f in fields]


def _table_key(cur: pymysql.cursors.Cursor, source: Source, params: ConnParams,
               partition_on: str | None) -> tuple[str | None, bool, str]:
    """(key column, nullable, reason) for a table read; key None when there is none."""
    schema, table = split_table(source.table or "")
    db = schema or params.database
    if partition_on:
        rows = _fetch(cur, "SELECT DATA_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                      "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
                      (db, table, partition_on))
        if not rows:
            raise DriverError(f"`partition_on` names {partition_on!r}, which is not a column of {table!r}",
                              hint="discovery lists the table's columns")
        if str(rows[0][0]).lower() not in _INTEGER_TYPES:
            raise DriverError(f"`partition_on` column {partition_on!r} is {rows[0][0]}, not an integer",
                              hint="pick an integer column, or remove `partition_on`")
        return partition_on, rows[0][1] == "YES", ""
    rows = _fetch(cur, "SELECT s.COLUMN_NAME, c.DATA_TYPE FROM information_schema.STATISTICS s "
                  "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA "
                  "AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
                  "WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s AND s.INDEX_NAME = 'PRIMARY' "
                  "AND s.SEQ_IN_INDEX = 1", (db, table))
    if not rows:
        return None, False, "the table has no primary key (set `partition_on` to an integer column)"
    if str(rows[0][1]).lower() not in _INTEGER_TYPES:
        return None, False, f"the primary key {rows[0][0]!r} is {rows[0][1]}, not an integer"
    return str(rows[0][0]), False, ""


def _estimated_rows(cur: pymysql.cursors.Cursor, source: Source, params: ConnParams) -> int | None:
    schema, table = split_table(source.table or "")
    rows = _fetch(cur, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                  "AND TABLE_NAME = %s", (schema or params.database, table))
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def plan_bulk(params: ConnParams, source: Source,
              partition_on: str | None) -> tuple[BulkPlan | None, str, list[Column] | None]:
    """Return (plan, "", columns) when the bulk path can run, else (None, reason, columns).

    `columns` are those of `SELECT <select_list> <from_clause> LIMIT 0` when that probe ran (None
    otherwise), for the fallback paths to reuse instead of probing again.
    """
    if source.query and not partition_on:
        return None, "a query is read in bulk only with `partition_on` (an integer column of its result)", None
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            try:
                columns = _probe_columns(cur, f"SELECT {source.select_list} {source.from_clause} LIMIT 0")
            except pymysql.MySQLError as error:
                wrappable = (pymysql.err.OperationalError, pymysql.err.ProgrammingError)
                if source.query and isinstance(error, wrappable):
                    return None, f"the query cannot be wrapped as a derived table ({error.args[-1]})", None
                raise
            unsupported = [c.name for c in columns if c.kind == "null"]
            if unsupported:
                return None, f"column(s) {', '.join(unsupported)} have no type (NULL literals)", columns
            if source.query:
                key_column = next((c for c in columns if c.name == partition_on), None)
                if key_column is None:
                    raise DriverError(f"`partition_on` names {partition_on!r}, which the query does not "
                                      "return", hint="add the column to the query's SELECT list")
                if not key_column.is_integer:
                    raise DriverError(f"`partition_on` column {partition_on!r} is {key_column.arrow}, "
                                      "not an integer", hint="pick an integer column of the query")
                key, nullable, estimate = partition_on, key_column.nullable, None
            else:
                key_name, nullable, reason = _table_key(cur, source, params, partition_on)
                if key_name is None:
                    return None, reason, columns
                key, estimate = key_name, _estimated_rows(cur, source, params)
            key_sql = f"{WRAP_ALIAS}.{quote_ident(key)}" if source.query else quote_ident(key)
            counts = f", COUNT(*) - COUNT({key_sql})" if nullable else ", 0"
            count_all = ", COUNT(*)" if source.query else ", NULL"
            low, high, nulls, total = _fetch(
                cur, f"SELECT MIN({key_sql}), MAX({key_sql}){counts}{count_all} {source.from_clause}")[0]
    except pymysql.MySQLError as error:
        raise classify(error, params, action="plan the read") from None
    finally:
        conn.close()
    empty = low is None
    return BulkPlan(
        source=source.from_clause,
        columns=tuple(columns),
        key=key_sql,
        low=int(low) if not empty else 1,
        high=int(high) if not empty else 0,
        # An empty read has no span to spread an estimate over (a partition's slice of a full table).
        estimated_rows=None if empty else int(total) if total is not None else estimate,
        null_keys=bool(nulls),
    ), "", columns
