"""One PostgreSQL connection read through the native COPY decoder: connect, describe, COPY.

The connection is psycopg's (its libpq: every conninfo setting, TLS and authentication as for any
psycopg connection). Rows move without Python code per row: `Decoder.pump` calls PQgetCopyData
and PQfreemem itself, by the addresses of the functions in the very libpq psycopg loaded
(`libpq_functions`), on the PGconn psycopg opened. Python is fed one batch at a time.

Why not Python feeding the decoder: psycopg's `copy` iterator yields one CopyData message per row,
0.56 CPU s per million rows on this machine before any decoding (more than the decoding itself);
the pump costs ~50 ns a row. The price is that the pump trusts two addresses: they are looked up
in psycopg's own extension module (whose libpq symbols resolve to the library it links), and each
connection is checked against them (PQbackendPID through that library must give psycopg's backend
pid) before any row is read. Where that cannot be done the reader is not used at all.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres.connect import PgParams
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.native_plan import NativePlan, decode_error, decoder_module, to_batch
from osiris.runtime.driver import DriverError

__all__ = ["LibpqFunctions", "connect", "copy_batches", "describe", "libpq_functions"]

LibpqFunctions = tuple[int, int]
"""Addresses of PQgetCopyData and PQfreemem."""


class ServerError(Exception):
    """A failed libpq result, in the shape errors.classify reads (server text, `sqlstate`)."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@lru_cache(maxsize=1)
def _libpq() -> Any:
    """psycopg's libpq as a ctypes library, or None (psycopg missing, an implementation we cannot see into)."""
    try:
        from psycopg import pq

        if pq.__impl__ == "binary":
            import psycopg_binary.pq as impl

            return ctypes.CDLL(impl.__file__)  # dlsym on it searches its own dependencies: psycopg's libpq
        if pq.__impl__ == "c":
            import psycopg_c.pq as impl

            return ctypes.CDLL(impl.__file__)
        from psycopg.pq import _pq_ctypes

        return _pq_ctypes.pq
    except (ImportError, OSError, AttributeError):
        return None


def libpq_functions(conn: Any) -> LibpqFunctions | None:
    """The pump's libpq functions, or None unless they provably belong to `conn`'s libpq."""
    lib = _libpq()
    pointer = getattr(conn.pgconn, "pgconn_ptr", None)
    if lib is None or not pointer:
        return None
    try:
        backend_pid = lib.PQbackendPID
        backend_pid.argtypes, backend_pid.restype = [ctypes.c_void_p], ctypes.c_int
        if backend_pid(pointer) != conn.info.backend_pid:
            return None
        get = ctypes.cast(lib.PQgetCopyData, ctypes.c_void_p).value
        free = ctypes.cast(lib.PQfreemem, ctypes.c_void_p).value
    except AttributeError:
        return None
    return (get, free) if get and free else None


def connect(params: PgParams) -> Any:
    """A psycopg connection set up as open_connection sets up ADBC's (UTC, standard strings),
    with UTF-8 text on the wire (Arrow strings are UTF-8)."""
    import psycopg

    try:
        conn = psycopg.connect(params.conninfo, autocommit=True, client_encoding="UTF8")
    except Exception as error:  # noqa: BLE001 - every failure is reported, scrubbed
        raise classify(error, action="connect", label=params.label, secrets=params.secrets, connecting=True) from None
    try:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET standard_conforming_strings = on")
    except Exception as error:  # noqa: BLE001
        conn.close()
        raise classify(error, action="set up the session", label=params.label, secrets=params.secrets) from None
    return conn


def _result_error(result: Any, pgconn: Any) -> ServerError:
    from psycopg.pq import DiagnosticField

    primary = result.error_field(DiagnosticField.MESSAGE_PRIMARY) if result is not None else None
    state = result.error_field(DiagnosticField.SQLSTATE) if result is not None else None
    text = primary or (result.error_message if result is not None else b"") or pgconn.error_message or b"no message"
    return ServerError(f"ERROR:  {text.decode('utf-8', 'replace')}", state.decode() if state else None)


def describe(conn: Any, sql: str, params: PgParams) -> list[tuple[str, int, int]]:
    """(name, type OID, typmod) of each column `sql` returns: prepared, not executed."""
    from psycopg.pq import ExecStatus

    pgconn = conn.pgconn
    result = pgconn.prepare(b"", sql.encode())
    if result.status == ExecStatus.COMMAND_OK:
        result = pgconn.describe_prepared(b"")
    if result.status != ExecStatus.COMMAND_OK:
        raise classify(_result_error(result, pgconn), action="preparing the query", label=params.label,
                       secrets=params.secrets)
    return [(result.fname(i).decode("utf-8", "replace"), result.ftype(i), result.fmod(i))
            for i in range(result.nfields)]


def copy_batches(conn: Any, sql: str, native: NativePlan, params: PgParams, functions: LibpqFunctions, *,
                 batch_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """`COPY (sql) TO STDOUT (FORMAT BINARY)` decoded into batches of at most `batch_rows` rows
    (or about `max_bytes` of stream); the server's final result is checked before the last batch
    counts as complete. The caller owns and closes `conn`."""
    from psycopg.pq import ExecStatus

    module = decoder_module()
    if module is None:
        raise DriverError("the native COPY decoder is not built")
    pgconn = conn.pgconn
    pgconn.nonblocking = 0  # the pump waits inside libpq for each message
    pgconn.send_query(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)".encode())
    result = pgconn.get_result()
    if result is None or result.status != ExecStatus.COPY_OUT:
        error = _result_error(result, pgconn)
        _drain(pgconn)
        raise classify(error, action="running the query", label=params.label, secrets=params.secrets)
    decoder = module.Decoder(native.kinds, batch_rows)
    get, free = functions
    while True:
        try:
            more = decoder.pump(pgconn.pgconn_ptr, get, free, batch_rows, max_bytes)
        except module.DecodeError as error:
            raise decode_error(error, native.schema, params.label) from None
        except module.LibpqError:
            error = ServerError(pgconn.error_message.decode("utf-8", "replace"), None)
            raise classify(error, action="reading rows", label=params.label, secrets=params.secrets) from None
        if not more:
            break
        yield to_batch(native, *decoder.take())
    final = pgconn.get_result()
    if final is None or final.status != ExecStatus.COMMAND_OK:  # e.g. a division by zero at row 5M
        error = _result_error(final, pgconn)
        _drain(pgconn)
        raise classify(error, action="reading rows", label=params.label, secrets=params.secrets)
    _drain(pgconn)
    try:
        decoder.finish()
    except module.DecodeError as error:
        raise decode_error(error, native.schema, params.label) from None
    rows, buffers = decoder.take()
    if rows:
        yield to_batch(native, rows, buffers)


def _drain(pgconn: Any) -> None:
    while pgconn.get_result() is not None:
        pass
