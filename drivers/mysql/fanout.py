"""How a parallel load deals its rows out to its connections, and which tables may have one.

Rows that could meet in one lock must go to one connection: each branch of a parallel load
(branches.py) holds its locks until our commit, which waits for every branch, so a wait between
two of them ends only at innodb_lock_wait_timeout, as a false error, or never (a table lock).
Equal keys are dealt to one connection by an integer column of the table's only unique key;
tables where other locks could be shared load on one connection (`parallel_hazard`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pyarrow as pa
import pymysql

from osiris.drivers.common.arrow_types import kernel
from osiris.drivers.mysql.load import Loader

__all__ = ["FanOut", "parallel_hazard", "routing_column"]

_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}


def parallel_hazard(cur: pymysql.cursors.Cursor, database: str, table: str, schema: pa.Schema,
                    route: str | None) -> str | None:
    """Why rows of one load on several connections could wait for each other, or None.

    Each branch holds its locks until our commit, which waits for every branch: a wait between
    them ends only at innodb_lock_wait_timeout (or never, for a table lock), as a false error.
    Parallel loads need an InnoDB base table (not a view, not MyISAM/Aria's table locks) whose
    only unique key is its primary key (a secondary unique index checks deleted rows under gap
    locks), keyed by a column that stores every input value as itself (a narrower or non-integer
    column could turn two routed-apart values into one key), without an AUTO_INCREMENT column
    (its AUTO-INC lock lasts a whole LOAD DATA), a foreign key into itself (parent rows another
    branch holds) or triggers (rows every branch may write). A table this write creates passes."""
    cur.execute("SELECT ENGINE, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s", (database, table))
    found = cur.fetchone()
    if found is None:
        return None  # created by this write: InnoDB, keyed by the input's own types (ddl.py)
    if str(found[1]).upper() != "BASE TABLE":
        return "the target is a view"
    if str(found[0]).lower() != "innodb":
        return f"the table's engine is {found[0]}, not InnoDB"
    cur.execute("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'", (database, table))
    if cur.fetchone()[0]:
        return "the table has a unique key other than its primary key"
    if route is not None and not _stores_as_itself(cur, database, table, route, schema.field(route).type):
        return f"column {route!r} cannot hold every {schema.field(route).type} value as itself"
    cur.execute("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                "AND EXTRA LIKE %s", (database, table, "%auto_increment%"))
    if cur.fetchone()[0]:
        return "the table has an AUTO_INCREMENT column"
    cur.execute("SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s "
                "AND TABLE_NAME = %s AND REFERENCED_TABLE_NAME = %s", (database, table, table))
    if cur.fetchone()[0]:
        return "the table has a foreign key into itself"
    cur.execute("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = %s "
                "AND EVENT_OBJECT_TABLE = %s", (database, table))
    if cur.fetchone()[0]:
        return "the table has triggers"
    return None


def _stores_as_itself(cur: pymysql.cursors.Cursor, database: str, table: str, column: str,
                      arrow_type: pa.DataType) -> bool:
    """Whether the key column is an integer type holding every value of `arrow_type` unchanged."""
    cur.execute("SELECT DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND COLUMN_NAME = %s", (database, table, column))
    found = cur.fetchone()
    if found is None or str(found[0]).lower() not in _INTEGER_BITS:
        return False
    bits, unsigned = _INTEGER_BITS[str(found[0]).lower()], "unsigned" in str(found[1]).lower()
    wanted, wanted_unsigned = arrow_type.bit_width, pa.types.is_unsigned_integer(arrow_type)
    if unsigned:
        return wanted_unsigned and bits >= wanted
    return bits >= wanted + (1 if wanted_unsigned else 0)


def routing_column(schema: pa.Schema, unique_keys: Sequence[set[str]]) -> str | None | bool:
    """How rows are dealt out so that two rows with the same key meet on one connection: an
    integer column of the table's only unique key (rows go by its value), None when the table
    has no unique key (any batch anywhere), False when no such column exists (one connection).

    Rows with one key on two connections would not fail as a repeated key: the second would
    wait for the first's lock, held until our commit, which waits for the second."""
    if not unique_keys:
        return None
    if len(unique_keys) > 1:
        return False
    for name in sorted(unique_keys[0]):
        index = schema.get_field_index(name)
        if index >= 0 and pa.types.is_integer(schema.field(index).type):
            return name
    return False


class FanOut:
    """Several loaders behind one: a batch goes to the next loader (round robin), or, with a
    routing column, each row to loader `value % count` (so equal keys share a connection)."""

    def __init__(self, loaders: Sequence[Loader], route: str | None = None) -> None:
        self.loaders = list(loaders)
        self.route = route
        self._next = itertools.cycle(self.loaders)

    def add(self, batch: pa.RecordBatch) -> None:
        if self.route is None:
            next(self._next).add(batch)
            return
        for index, part in enumerate(_split(batch, self.route, len(self.loaders))):
            if part.num_rows:
                self.loaders[index].add(part)

    def finish(self) -> None:
        """End every stream; raises the first failure after all have stopped."""
        errors: list[BaseException] = []
        for loader in self.loaders:
            try:
                loader.finish()
            except BaseException as error:  # noqa: BLE001 - the first is re-raised below
                errors.append(error)
        if errors:
            raise errors[0]

    def close(self) -> None:
        for loader in self.loaders:
            loader.close()


def _split(batch: pa.RecordBatch, column: str, count: int) -> list[pa.RecordBatch]:
    """`batch`'s rows by |`column` mod `count`| (Arrow has no modulo kernel: key - key / count *
    count); a null key goes to the first (the server refuses it there)."""
    keys = batch.column(column)
    if keys.null_count:
        keys = kernel("coalesce", keys, pa.scalar(0, keys.type))
    divisor = pa.scalar(count, keys.type)
    spread = kernel("abs", kernel("subtract", keys, kernel("multiply", kernel("divide", keys, divisor), divisor)))
    return [kernel("filter", batch, kernel("equal", spread, pa.scalar(i, keys.type))) for i in range(count)]
