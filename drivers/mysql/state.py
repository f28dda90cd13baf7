"""Incremental reads and state in MySQL/MariaDB.

The window: `incremental_source` narrows the read to the cursor window, with the cursor value
rendered by `cursor_literal` from its typed value (numbers bare, dates and times as quoted ISO
text in the session's UTC, text as a hex string so no quoting rule of any sql_mode applies).

The state: rows of `_osiris_state` in the target table's database. DDL commits implicitly in
MySQL, so the table is created before the writer's transaction begins (`ensure_table`); the row
is written inside it (`save_state`), replacing only the state this run started from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pymysql

from osiris.drivers.mysql.connect import ConnParams, classify, connect, quote_ident, split_table
from osiris.drivers.mysql.plan import Source
from osiris.runtime.driver import DriverError
from osiris.runtime.incremental import STATE_TABLE, StateRecord

__all__ = ["clear_state", "cursor_literal", "ensure_table", "incremental_source", "load_state", "save_state",
           "state_table"]

_ALIAS = "_osiris_inc"


def cursor_literal(value: Any) -> str:
    """A cursor value as MySQL SQL."""
    if isinstance(value, bool):
        raise DriverError(f"{value!r} is not a cursor value")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        return f"_utf8mb4 X'{value.encode().hex()}'" if value else "''"
    raise DriverError(f"{value!r} is not a cursor value")


def incremental_source(source: Source, bound: Any) -> Source:
    """`source` narrowed to the incremental window `bound` (a runtime CursorFilter)."""
    if bound.value is None:
        return source
    if source.query:
        predicate = bound.where(f"{_ALIAS}.{quote_ident(bound.column)}", cursor_literal)
        return replace(source, query=f"SELECT * FROM ({source.query}\n) AS {_ALIAS} WHERE {predicate}")
    predicate = bound.where(quote_ident(bound.column), cursor_literal)
    return replace(source, where=f"({source.where}) AND {predicate}" if source.where else predicate)


def state_table(params: ConnParams, table: str) -> str:
    """`_osiris_state` in the database of `table` (else the connection's)."""
    database, _ = split_table(table)
    database = database or params.database
    if not database:
        raise DriverError("cannot tell which database keeps the incremental state",
                          hint="give the connection a `database`, or write `table: database.table`")
    return f"{quote_ident(database)}.{quote_ident(STATE_TABLE)}"


def ensure_table(cur: pymysql.cursors.Cursor, table_sql: str) -> None:
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {table_sql} (pipeline VARCHAR(100) NOT NULL, step VARCHAR(64) NOT NULL, "
        "state LONGTEXT NOT NULL, updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
        "PRIMARY KEY (pipeline, step)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )


def save_state(cur: pymysql.cursors.Cursor, table_sql: str, records: Sequence[StateRecord]) -> None:
    """Write `records` in the caller's transaction; fails if another run moved a state meanwhile."""
    for record in records:
        if record.previous is None:
            changed = cur.execute(
                f"INSERT IGNORE INTO {table_sql} (pipeline, step, state) VALUES (%s, %s, %s)",
                (record.pipeline, record.step, record.state),
            )
        else:
            changed = cur.execute(
                f"UPDATE {table_sql} SET state = %s, updated_at = CURRENT_TIMESTAMP(6) "
                "WHERE pipeline = %s AND step = %s AND state = %s",
                (record.state, record.pipeline, record.step, record.previous),
            )
        if changed != 1:
            raise DriverError(
                f"the incremental state of step {record.step} changed while this run loaded it "
                "(another run of the pipeline committed first)",
                hint="nothing of this run was kept; run again to load from the new state",
            )


def _run(params: ConnParams, sql: str, args: tuple[Any, ...], action: str) -> tuple[int, list[tuple]]:
    try:
        conn = connect(params)
    except pymysql.MySQLError as error:
        raise classify(error, params, action=action) from None
    try:
        with conn.cursor() as cur:
            count = cur.execute(sql, args)
            return count, list(cur.fetchall())
    except pymysql.MySQLError as error:
        if error.args and error.args[0] == 1146:  # no state table yet: nothing stored
            return 0, []
        raise classify(error, params, action=action) from None
    finally:
        conn.close()


def load_state(params: ConnParams, table_sql: str, pipeline: str, step: str | None = None) -> dict[str, str]:
    """Step id -> stored state (JSON) of `pipeline` (one step, or all)."""
    sql = f"SELECT step, state FROM {table_sql} WHERE pipeline = %s"
    args: tuple[Any, ...] = (pipeline,)
    if step is not None:
        sql, args = sql + " AND step = %s", (pipeline, step)
    _, rows = _run(params, sql + " ORDER BY step", args, "read the incremental state")
    return {str(s): str(v) for s, v in rows}


def clear_state(params: ConnParams, table_sql: str, pipeline: str, steps: Iterable[str]) -> int:
    names = tuple(steps)
    if not names:
        return 0
    marks = ", ".join(["%s"] * len(names))
    count, _ = _run(params, f"DELETE FROM {table_sql} WHERE pipeline = %s AND step IN ({marks})",
                    (pipeline, *names), "reset the incremental state")
    return count
