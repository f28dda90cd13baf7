"""The streaming read path: an unbuffered pymysql cursor turned into Arrow batches.

It works for any SELECT (no key needed) and holds one batch of rows at a time. pymysql's
Python-level value converters are switched off: the cursor yields str/bytes and Arrow's
vectorised casts do the parsing, which is about twice as fast as pymysql's own conversion.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.connect import ConnParams, classify, connect
from osiris.drivers.mysql.types import Column, column_from_field, schema_of, to_arrow
from osiris.runtime.driver import DriverError

__all__ = ["RawStream", "stream_batches"]

class RawStream:
    """An executed streaming query: its columns, then its rows in chunks."""

    def __init__(self, params: ConnParams, sql: str) -> None:
        self.params = params
        self.conn = connect(params, streaming=True)
        self.conn.decoders = {}  # raw str/bytes; Arrow parses them in bulk
        try:
            self.cursor = self.conn.cursor()
            self.cursor.execute(sql)
        except Exception as error:  # noqa: BLE001
            self.close()
            raise classify(error, params, action="run the query") from None
        fields = _fields(self.cursor)
        if not fields:
            self.close()
            raise DriverError("the query returns no rows (a statement such as SET, DO or SELECT ... INTO)",
                              hint="the extractor reads what a SELECT returns; write the query as one")
        self.columns: list[Column] = [column_from_field(f) for f in fields]
        self.schema: pa.Schema = schema_of(self.columns)

    def fetch(self, size: int) -> list[tuple]:
        try:
            return self.cursor.fetchmany(size)
        except Exception as error:  # noqa: BLE001
            self.close()
            raise classify(error, self.params, action="read the query's rows") from None

    def close(self) -> None:
        """Close without draining: closing the socket makes the server abandon the query."""
        conn = self.conn
        if conn is None:
            return
        self.conn = None
        result = getattr(getattr(self, "cursor", None), "_result", None)
        if result is not None:
            result.unbuffered_active = False  # else its __del__ tries to drain the closed socket
        conn._result = None  # noqa: SLF001
        try:
            conn._force_close()  # noqa: SLF001 - close() would read every remaining row first
        except Exception:  # noqa: BLE001
            pass


def rows_to_batch(columns: list[Column], schema: pa.Schema, rows: list[tuple]) -> pa.RecordBatch:
    by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    arrays = [to_arrow(column, values) for column, values in zip(columns, by_column, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def stream_batches(
    params: ConnParams, sql: str, batch_size: int, limit: int | None,
    columns: list[Column] | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Run `sql` unbuffered; return its schema and a generator of batches (at most `limit` rows).

    `columns` (from a probe of the original select) override the result's own metadata when
    the SQL was rewritten to carry values more exactly (FLOAT selected as DOUBLE).
    """
    stream = RawStream(params, sql)
    if columns is not None:
        stream.columns, stream.schema = columns, schema_of(columns)

    def generate() -> Iterator[pa.RecordBatch]:
        remaining = limit
        try:
            while remaining is None or remaining > 0:
                size = batch_size if remaining is None else min(batch_size, remaining)
                rows = stream.fetch(size)
                if not rows:
                    break
                if remaining is not None:
                    remaining -= len(rows)
                yield rows_to_batch(stream.columns, stream.schema, rows)
        finally:
            stream.close()

    return stream.schema, generate()


def _fields(cursor: pymysql.cursors.Cursor) -> list:
    """The result's column definitions; none for a statement that returns no result set."""
    return list(getattr(cursor._result, "fields", None) or [])  # noqa: SLF001


def probe(params: ConnParams, sql: str) -> list[Column]:
    """Run `sql` with no rows wanted and return its columns (validates SQL and connection)."""
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            fields = _fields(cur)
            cur.fetchall()
        return [column_from_field(f) for f in fields]
    except pymysql.MySQLError as error:
        raise classify(error, params, action="run the query") from None
    finally:
        conn.close()
