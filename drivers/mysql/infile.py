"""LOAD DATA LOCAL INFILE that sends only the file Osiris generated for that load.

With LOCAL INFILE the server names the file the client must send, and pymysql sends
whatever it names: a hostile or compromised server could read any file the run can read,
at any query. `GuardedConnection` is the pymysql connection every Osiris MySQL connection
uses; it answers a file request only while `expect_file(conn, path)` or
`expect_stream(conn, name, chunks)` is active (the LOAD DATA statement for that file or
stream), only for that exact name, and only once. Any other request
is declined the way the mysql client declines a missing file (an empty packet, then the
server's reply is read so the connection stays in step) and the statement fails with
`LocalFileRefused`. Connections that do not load never advertise LOCAL INFILE at all
(`local_infile=False`), so a conforming server never asks them.

A stream is not a file: its name is made up for the statement and its bytes come from memory,
in packets as large as the server accepts (pymysql sends 16 KB ones, one Python call each,
which a loader thread then competes for the GIL with). The writer loads a whole write as one
statement this way, without a temp file (bench/mysql_paths.py, docs/performance.md).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pymysql
from pymysql.connections import MySQLResult
from pymysql.protocol import LoadLocalPacketWrapper

from osiris.drivers.mysql.auth import PasswordGuard
from osiris.runtime.driver import DriverError

__all__ = ["GuardedConnection", "LocalFileRefused", "expect_file", "expect_stream"]

MAX_PACKET = 16 * 1024 * 1024 - 1
"""The protocol's largest packet payload; a longer one would need continuation packets."""


class LocalFileRefused(DriverError):
    """The server asked for a local file other than the one this load generated."""

    def __init__(self, requested: bytes) -> None:
        name = requested.decode("utf-8", "replace")
        shown = name if len(name) <= 200 else name[:200] + "..."
        super().__init__(
            f"the MySQL server asked for the local file {shown!r}, which is not the file Osiris "
            "generated for this statement: nothing was sent, and the statement was aborted",
            hint="a server that asks for other files is misconfigured or hostile; check the connection's "
            "host, or use `load_method: insert`",
        )


class _GuardedResult(MySQLResult):
    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn = self.connection
        requested = LoadLocalPacketWrapper(first_packet).filename
        expected, chunks = conn._take_expected()  # noqa: SLF001 - our subclass
        if expected is not None and requested == expected and conn._local_infile:  # noqa: SLF001
            if chunks is None:
                super()._read_load_local_packet(first_packet)
            else:
                self._send_stream(*chunks)
            return
        try:  # decline: no data, then read the server's answer so the link stays in step
            conn.write_packet(b"")
            conn._read_packet()  # noqa: SLF001
        except pymysql.MySQLError:
            pass
        raise LocalFileRefused(requested)

    def _send_stream(self, chunks: Iterable[bytes], packet: int) -> None:
        """pymysql's file answer with the bytes of `chunks`: data packets, an empty one, the OK."""
        conn = self.connection
        size = max(1024, min(packet, MAX_PACKET))
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), size):
                    conn.write_packet(view[start:start + size])
        finally:
            conn.write_packet(b"")  # end of data, also when the source failed: the server ends the statement
            ok_packet = conn._read_packet()  # noqa: SLF001
        if not ok_packet.is_ok_packet():
            raise pymysql.err.OperationalError(2014, "Commands Out of Sync")
        self._read_ok_packet(ok_packet)


class GuardedConnection(PasswordGuard, pymysql.connections.Connection):
    """A pymysql connection whose LOCAL INFILE answers are limited by `expect_file` (and which keeps
    the password from a remote server on a link without TLS: `drivers.mysql.auth`)."""

    _expected_file: bytes | None = None
    _expected_chunks: tuple[Iterable[bytes], int] | None = None

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        """TLS `preferred` (pymysql is given no TLS options) verifies nothing, yet pymysql builds its
        context with `ssl.create_default_context()`, which loads the system's CA certificates
        (~20 ms per connection) only to set CERT_NONE. The same context without the load; the
        modes that verify (a context or options given) are pymysql's own."""
        if isinstance(sslp, dict) and not sslp:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return super()._create_ssl_ctx(sslp)

    def _take_expected(self) -> tuple[bytes | None, tuple[Iterable[bytes], int] | None]:
        expected, chunks = self._expected_file, self._expected_chunks
        self._expected_file = self._expected_chunks = None
        return expected, chunks

    def _read_query_result(self, unbuffered: bool = False) -> int:
        # pymysql's own body with one change: the result class that answers file requests
        self._result = None
        result = _GuardedResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows


@contextlib.contextmanager
def expect_file(conn: pymysql.connections.Connection, path: Path) -> Iterator[None]:
    """Let the statement run inside this block be answered with `path`, once."""
    if not isinstance(conn, GuardedConnection):
        raise TypeError("LOAD DATA LOCAL needs a GuardedConnection (drivers.mysql.connect.connect)")
    conn._expected_file = str(path).encode(conn.encoding)  # noqa: SLF001
    try:
        yield
    finally:
        conn._expected_file = None  # noqa: SLF001


@contextlib.contextmanager
def expect_stream(conn: pymysql.connections.Connection, name: str, chunks: Iterable[bytes],
                  packet: int) -> Iterator[None]:
    """Let the statement run inside this block, which names the file `name`, be answered once with
    the bytes of `chunks` (consumed as they are sent) in packets of at most `packet` bytes (the
    server's max_allowed_packet or less); no file of that name is read."""
    if not isinstance(conn, GuardedConnection):
        raise TypeError("LOAD DATA LOCAL needs a GuardedConnection (drivers.mysql.connect.connect)")
    conn._expected_file = name.encode(conn.encoding)  # noqa: SLF001
    conn._expected_chunks = (chunks, packet)  # noqa: SLF001
    try:
        yield
    finally:
        conn._expected_file = conn._expected_chunks = None  # noqa: SLF001
