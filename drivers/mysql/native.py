"""The native read path: one prepared statement, its binary-protocol rows decoded in C.

pymysql opens the connection (TLS and authentication as on every other path) and sends the
statement; the rows are read straight from its socket in large chunks and decoded by
`_myrows` (myrows_core.c) into Arrow buffers, without a Python object per value. The binary
protocol also costs the server less than text: integers, floats and dates are sent as they
are stored instead of being printed. One statement is one snapshot, read at the pace of
downstream (the server waits while the socket is full), so memory is bounded by the batches
in flight, whatever the table's size and whether or not it has an integer key.

A result this path cannot decode exactly (TIME, BIT, decimals over 38 digits, a statement with
placeholders, a connection charset other than UTF-8) is left to the other paths: `open_native`
returns None with the reason.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import pyarrow as pa
import pymysql
from pymysql.constants import COMMAND

from osiris.drivers.mysql.connect import ConnParams, classify, connect, kill_queries
from osiris.drivers.mysql.types import Column, column_from_field, schema_of
from osiris.runtime.driver import DriverError

__all__ = ["NativeRead", "decoder_module", "open_native"]

_CHUNK = 1 << 20
_MAX_COLUMNS = 4096  # the decoder's limit (myr_init); a wider result takes another path
_DONE = object()


def decoder_module() -> ModuleType | None:
    """The compiled decoder, or None where the install could not build it (no C compiler)."""
    try:
        from osiris.drivers.mysql import _myrows  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _myrows


def _kind(module: ModuleType, column: Column) -> tuple[int, int, int] | None:
    """(decoder kind, precision, scale) of a column, or None when the decoder cannot carry it."""
    kind, arrow = column.kind, column.arrow
    if kind == "bool":
        return module.BOOL, 0, 0
    if kind in ("int", "year"):
        width = arrow.bit_width
        return {8: module.INT8, 16: module.INT16, 32: module.INT32, 64: module.INT64}[width], 0, 0
    if kind == "float":
        return (module.FLOAT if arrow == pa.float32() else module.DOUBLE), 0, 0
    if kind == "decimal" and pa.types.is_decimal128(arrow):
        return module.DECIMAL, arrow.precision, arrow.scale
    if kind == "date":
        return module.DATE, 0, 0
    if kind in ("datetime", "timestamp"):
        return module.DATETIME, 0, 0
    if kind in ("text", "json"):
        return module.TEXT, 0, 0
    if kind == "binary":
        return module.BINARY, 0, 0
    if kind == "null":
        return module.NULL, 0, 0
    return None  # time (durations), bit: the connectorx and stream paths convert them


def unfit(module: ModuleType, columns: Sequence[Column]) -> str:
    """Why the decoder cannot carry these columns, or "" when it can."""
    if len(columns) > _MAX_COLUMNS:
        return f"{len(columns)} columns (the native decoder takes at most {_MAX_COLUMNS})"
    for column in columns:
        if _kind(module, column) is None:
            return f"column {column.name!r} ({column.kind}, {column.arrow}) has no native decoder"
    return ""


@dataclass
class _Statement:
    stmt_id: int
    columns: list[Column]


def _read_fields(conn: Any, count: int) -> list[Column]:
    """`count` column definitions and the EOF packet after them."""
    fields = [conn._read_packet(pymysql.protocol.FieldDescriptorPacket) for _ in range(count)]  # noqa: SLF001
    if count and not conn._read_packet().is_eof_packet():  # noqa: SLF001
        raise pymysql.err.InternalError("protocol error: no EOF packet after the column definitions")
    return [column_from_field(f) for f in fields]


def _prepare(conn: Any, sql: str) -> tuple[_Statement, int]:
    """COM_STMT_PREPARE: the statement's id and columns, and its count of placeholders."""
    conn._execute_command(COMMAND.COM_STMT_PREPARE, sql)  # noqa: SLF001
    ok = conn._read_packet()  # noqa: SLF001 - raises the server's error (syntax, privileges)
    data = ok.get_all_data()
    if len(data) < 9 or data[0] != 0:
        raise pymysql.err.InternalError("protocol error: an unexpected answer to COM_STMT_PREPARE")
    stmt_id, count, params = struct.unpack_from("<IHH", data, 1)
    if params:
        _read_fields(conn, params)
    return _Statement(stmt_id, _read_fields(conn, count)), params


def _close_statement(conn: Any, stmt_id: int) -> None:
    conn._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", stmt_id))  # noqa: SLF001 - no answer


@dataclass
class NativeRead:
    """A prepared statement on its own connection, ready to stream its rows."""

    params: ConnParams
    conn: Any
    statement: _Statement
    module: ModuleType
    running: bool = False
    """The statement was executed and its result has not ended yet."""

    @property
    def columns(self) -> list[Column]:
        return self.statement.columns

    @cached_property
    def schema(self) -> pa.Schema:
        return schema_of(self.columns)

    def close(self) -> None:
        """Close without draining. A statement still running is stopped on the server too.

        The socket is shut down first: that wakes the reader thread blocked in `recv` (closing
        pymysql's buffered reader would wait for the lock that blocked read holds, for as long as
        the server sends nothing). Then `KILL QUERY`, since a server busy before its next row
        (a sort, a slow filter) notices a closed connection only when it writes again.
        """
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.running:
            with contextlib.suppress(Exception):
                conn._sock.shutdown(socket.SHUT_RDWR)  # noqa: SLF001
            thread_id = getattr(conn, "server_thread_id", None)
            if thread_id:
                kill_queries(self.params, "ID = %s", (int(thread_id[0]),))
        with contextlib.suppress(Exception):
            conn._force_close()  # noqa: SLF001

    def _execute(self) -> None:
        conn = self.conn
        conn._execute_command(COMMAND.COM_STMT_EXECUTE, struct.pack("<IBI", self.statement.stmt_id, 0, 1))  # noqa: SLF001
        head = conn._read_packet()  # noqa: SLF001 - raises the server's error
        count = head.read_length_encoded_integer()
        columns = _read_fields(conn, count)
        described = [(c.name, c.kind, str(c.arrow)) for c in self.columns]
        if [(c.name, c.kind, str(c.arrow)) for c in columns] != described:
            raise DriverError("the statement's result columns changed between prepare and execute",
                              hint="run the step again (the table was altered meanwhile)")

    def batches(self, batch_rows: int, stop: threading.Event) -> Iterator[pa.RecordBatch]:
        """Execute the statement and decode its rows into batches of `batch_rows` (the last may be shorter)."""
        module = self.module
        spec = [_kind(module, c) for c in self.columns]
        decoder = module.Decoder(spec, row_hint=batch_rows)
        self.running = True
        self._execute()
        # pymysql's buffered reader may hold the first rows already. read1 returns what it holds
        # before it reads the socket again (readinto1 would wait for more bytes after a short result).
        rfile = self.conn._rfile  # noqa: SLF001
        while not stop.is_set():
            chunk = rfile.read1(_CHUNK)
            if not chunk:
                raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
            status, trailing = decoder.feed(chunk, batch_rows)
            while status == module.FULL:
                yield self._batch(*decoder.take())
                status, trailing = decoder.feed(b"", batch_rows)
            if status in (module.SERVER_ERR, module.END):
                self.running = False
            if status == module.SERVER_ERR:
                pymysql.err.raise_mysql_exception(decoder.server_error)
            if status == module.END:
                if trailing:
                    raise pymysql.err.InternalError(f"protocol error: {trailing} bytes after the result's end")
                if decoder.rows:
                    yield self._batch(*decoder.take())
                with contextlib.suppress(Exception):
                    _close_statement(self.conn, self.statement.stmt_id)
                return

    def _batch(self, rows: int, buffers: Sequence[tuple[Any, Any, Any, int]]) -> pa.RecordBatch:
        arrays = []
        for column, (valid, offsets, data, nulls) in zip(self.columns, buffers, strict=True):
            if column.kind == "null":
                arrays.append(pa.nulls(rows))
                continue
            parts = [None if valid is None else pa.py_buffer(valid)]
            if offsets is not None:
                parts.append(pa.py_buffer(offsets))
            parts.append(pa.py_buffer(data))
            arrays.append(pa.Array.from_buffers(column.arrow, rows, parts, null_count=nulls))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def open_native(params: ConnParams, sql: str) -> tuple[NativeRead | None, str]:
    """Prepare `sql` on a new connection for the native path, or (None, why not).

    A statement the server refuses to prepare is left to the other paths, which report the
    server's error as they always have.
    """
    module = decoder_module()
    if module is None:
        return None, "the native MySQL decoder is not built (no C compiler at install time)"
    conn = connect(params)
    try:
        if conn.encoding != "utf8":
            return None, f"the connection's charset {params.charset!r} is not UTF-8"
        try:
            statement, placeholders = _prepare(conn, sql)
        except pymysql.MySQLError as error:
            return None, f"the server did not prepare the statement ({error.args[-1]})"
        if placeholders:
            return None, "the statement has placeholders"
        reason = unfit(module, statement.columns) if statement.columns else "the statement returns no columns"
        if reason:
            return None, reason
        read, conn = NativeRead(params, conn, statement, module), None
        return read, ""
    finally:
        if conn is not None:
            conn.close()


def native_batches(read: NativeRead, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Decode in a background thread (the GIL is released while it reads and decodes), at most
    two batches ahead of downstream."""
    out: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for batch in read.batches(batch_rows, stop):
                if not put(batch):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            put(error)
            return
        put(_DONE)

    thread = threading.Thread(target=run, name="osiris-mysql-native", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise _error(item, read) from None
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        read.close()  # wakes a reader blocked on the socket
        thread.join(timeout=60)


def _error(error: BaseException, read: NativeRead) -> DriverError:
    if isinstance(error, DriverError):
        return error
    module = read.module
    if isinstance(error, module.DecodeError) and len(error.args) == 3:
        code, column, text = error.args
        name = read.columns[column].name if 0 <= column < len(read.columns) else None
        if code == module.ERR_RANGE and name is not None:
            return DriverError(
                f"column {name!r} holds the zero or partial date {text}, which no Arrow date can hold",
                hint=f"select NULLIF({name}, '{text}') in a `query`, or fix the rows "
                "(sql_mode NO_ZERO_DATE/NO_ZERO_IN_DATE keeps new ones out)",
            )
        if code == module.ERR_DECIMAL and name is not None:
            return DriverError(f"column {name!r}: a value with {text} does not fit {read.columns[column].arrow}",
                               hint=f"cast {name!r} in a `query` to a DECIMAL wide enough")
        where = f" in column {name!r}" if name is not None else ""
        return DriverError(f"the server's rows are not what the statement described{where}: {text}",
                           hint="a proxy or server between us and MySQL changed the stream; read with "
                           "`fetch_mode: stream` to compare")
    return classify(error, read.params, action="read the statement's rows")
