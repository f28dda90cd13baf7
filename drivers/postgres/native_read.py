"""One PostgreSQL connection read through the native COPY decoder: connect, describe, COPY.

The connection is libpq's own, through ctypes (drivers/postgres/libpq.py: the library psycopg would
use, without psycopg's import), so every conninfo setting, TLS and authentication work as for
any libpq client. Rows move without Python code per row: `Decoder.pump` calls PQgetCopyData and
PQfreemem itself, by the addresses of those functions in the same library the connection was
opened with, and Python is fed one batch at a time.

Why not Python feeding the decoder: psycopg's `copy` iterator yields one CopyData message per row,
0.56 CPU s per million rows on this machine before any decoding (more than the decoding itself);
the pump costs ~50 ns a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from osiris.drivers.postgres.connect import PgParams
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.libpq import ConnectError, Connection, ServerError
from osiris.drivers.postgres.native_plan import NativePlan, decode_error, decoder_module, to_batch
from osiris.runtime.driver import DriverError

__all__ = ["connect", "copy_batches", "describe"]


def connect(params: PgParams) -> Connection:
    """A connection set up as open_connection sets up ADBC's (UTC, standard strings), with UTF-8
    text on the wire (Arrow strings are UTF-8)."""
    try:
        conn = Connection(f"{params.conninfo} client_encoding=UTF8")  # libpq keeps a keyword's last value
    except ConnectError as error:
        raise classify(error, action="connect", label=params.label, secrets=params.secrets, connecting=True) from None
    try:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET standard_conforming_strings = on")
    except ServerError as error:
        conn.close()
        raise classify(error, action="set up the session", label=params.label, secrets=params.secrets) from None
    return conn


def describe(conn: Connection, sql: str, params: PgParams) -> list[tuple[str, int, int]]:
    """(name, type OID, typmod) of each column `sql` returns: prepared, not executed."""
    try:
        return conn.describe(sql)
    except ServerError as error:
        raise classify(error, action="preparing the query", label=params.label, secrets=params.secrets) from None


def copy_batches(conn: Connection, queries: Iterable[str], native: NativePlan, params: PgParams, *,
                 batch_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """`COPY (sql) TO STDOUT (FORMAT BINARY)` of each query in turn (page ranges of one table, taken
    as they come), decoded into batches of at most `batch_rows` rows (or about `max_bytes` of
    stream); one query's rows go on into the batch the previous one left unfilled. Each query's
    final result is checked before its rows count as complete. The caller owns and closes `conn`."""
    module = decoder_module()
    if module is None:
        raise DriverError("the native COPY decoder is not built")
    decoder = module.Decoder(native.kinds, batch_rows)
    get, free = conn.copy_functions()
    for sql in queries:
        try:
            conn.start_copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)")
        except ServerError as error:
            raise classify(error, action="running the query", label=params.label, secrets=params.secrets) from None
        while True:
            try:
                more = decoder.pump(conn.pointer, get, free, batch_rows, max_bytes)
            except module.DecodeError as error:
                raise decode_error(error, native.schema, params.label) from None
            except module.LibpqError:
                error = ServerError(conn.error_message(), None)
                raise classify(error, action="reading rows", label=params.label, secrets=params.secrets) from None
            if not more:
                break
            yield to_batch(native, *decoder.take())
        try:
            conn.finish_copy()  # e.g. a division by zero at row 5M
        except ServerError as error:
            raise classify(error, action="reading rows", label=params.label, secrets=params.secrets) from None
        try:
            decoder.finish()
        except module.DecodeError as error:
            raise decode_error(error, native.schema, params.label) from None
    rows, buffers = decoder.take()
    if rows:
        yield to_batch(native, rows, buffers)
