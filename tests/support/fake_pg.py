"""A hostile PostgreSQL stand-in: it asks every client for its password in clear text.

It speaks just enough of the v3 protocol to catch a credential: it answers an SSLRequest
with `N` (or, given a certificate, `S` and a TLS handshake), reads the startup message,
sends AuthenticationCleartextPassword, records the PasswordMessage that arrives, and ends
the session with a FATAL error. Tests assert on `connections` (one record per client).
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakePostgres", "PgClient", "fake_postgres"]

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
PROTOCOL_3 = 196608


@dataclass
class PgClient:
    """What one client sent."""

    ssl_requested: bool = False
    tls: bool = False
    startup: dict[str, str] = field(default_factory=dict)
    password: str | None = None


@dataclass
class FakePostgres:
    host: str
    port: int
    connections: list[PgClient] = field(default_factory=list)

    @property
    def passwords(self) -> list[str]:
        return [c.password for c in self.connections if c.password is not None]


def _read_exact(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _serve_one(sock: socket.socket, server: FakePostgres, tls: ssl.SSLContext | None) -> None:
    client = PgClient()
    server.connections.append(client)
    conn: Any = sock
    try:
        _converse(conn, client, tls)
    finally:
        client_sock = getattr(client, "_sock", None)
        if client_sock is not None:
            client_sock.close()


def _converse(conn: Any, client: PgClient, tls: ssl.SSLContext | None) -> None:
    while True:
        length, code = struct.unpack("!ii", _read_exact(conn, 8))
        if code == SSL_REQUEST:
            client.ssl_requested = True
            if tls is None:
                conn.sendall(b"N")
                continue
            conn.sendall(b"S")
            conn = tls.wrap_socket(conn, server_side=True)
            client._sock = conn  # type: ignore[attr-defined]  # closed by _serve_one
            client.tls = True
            continue
        if code == GSSENC_REQUEST:
            conn.sendall(b"N")
            continue
        break
    body = _read_exact(conn, length - 8)
    parts = body.split(b"\0")
    client.startup = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2) if parts[i]}
    conn.sendall(_message(b"R", struct.pack("!i", 3)))  # AuthenticationCleartextPassword
    kind = _read_exact(conn, 1)
    (size,) = struct.unpack("!i", _read_exact(conn, 4))
    payload = _read_exact(conn, size - 4)
    if kind == b"p":
        client.password = payload.rstrip(b"\0").decode("utf-8", "replace")
    error = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed (fake server)\0\0"
    conn.sendall(_message(b"E", error))


@contextmanager
def fake_postgres(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[FakePostgres]:
    """Serve on `host` (an ephemeral port) until the block ends."""
    listener = socket.create_server((host, 0))
    listener.settimeout(0.2)
    server = FakePostgres(host, listener.getsockname()[1])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(10)
            try:
                _serve_one(sock, server, tls)
            except (OSError, ssl.SSLError, ConnectionError, struct.error):
                pass
            finally:
                sock.close()

    thread = threading.Thread(target=loop, name="fake-postgres", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()
        thread.join(5)
