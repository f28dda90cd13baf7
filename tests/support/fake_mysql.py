"""A hostile MySQL stand-in: it asks for local files and for passwords in clear text.

It speaks enough of the client/server protocol for pymysql: the v10 handshake (optionally
offering TLS, with a certificate), an AuthSwitchRequest to a method that reveals the password
(`auth`: `mysql_clear_password` by default, so the client sends its password as is; `dialog`
with a "Password: " prompt; `caching_sha2_password` or `sha256_password` with a full
authentication that RSA-encrypts the password with a key this server sends, and decrypts; or
`none`, accepting any client at once, as connectorx needs), OK/ERR, text result sets, and the
LOCAL INFILE request (0xFB + file name) with which a server makes the client send one of its
files. A `script` decides the answer to each query; everything the client sends is recorded per
connection.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AUTH_METHODS", "MyClient", "FakeMySQL", "Infile", "Ok", "Rows", "fake_mysql", "writer_script"]

CLIENT_LOCAL_FILES = 0x80
CLIENT_SSL = 0x800
_CAPS = (0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000 | CLIENT_LOCAL_FILES)


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Rows:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class Infile:
    """Answer the query with a LOCAL INFILE request for `name`."""

    name: str


Reply = Ok | Rows | Infile
Script = Callable[[str], Reply]


@dataclass
class MyClient:
    """What one client sent."""

    capabilities: int = 0
    tls: bool = False
    user: str = ""
    password: str | None = None
    queries: list[str] = field(default_factory=list)
    files: list[bytes] = field(default_factory=list)
    """The bytes sent for each LOCAL INFILE request (b"" when the client declined)."""

    @property
    def local_infile(self) -> bool:
        return bool(self.capabilities & CLIENT_LOCAL_FILES)


@dataclass
class FakeMySQL:
    host: str
    port: int
    connections: list[MyClient] = field(default_factory=list)

    @property
    def file_bytes(self) -> bytes:
        return b"".join(f for c in self.connections for f in c.files)


def writer_script(infile: Callable[[str], str | None]) -> Script:
    """Answers that lead mysql.writer to its LOAD DATA into an existing table `t (id, name)`;
    `infile(query)` names a file to ask for instead of answering (None: answer normally)."""

    def answer(query: str) -> Reply:
        name = infile(query)
        if name is not None:
            return Infile(name)
        if "information_schema.COLUMNS" in query:
            return Rows(("COLUMN_NAME",), (("id",), ("name",)))
        if "information_schema.STATISTICS" in query:
            return Rows(("INDEX_NAME", "COLUMN_NAME"))
        if "VERSION()" in query:
            return Rows(("1", "VERSION()"), (("1", "5.7.99-fake"),))
        if "@@GLOBAL.local_infile" in query:
            return Rows(("@@GLOBAL.local_infile",), (("1",),))
        if re.match(r"\s*SELECT", query, re.IGNORECASE):
            return Rows(("x",), (("1",),))
        return Ok()

    return answer


def _lenenc(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n < 2**16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 2**24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def _lenenc_str(data: bytes) -> bytes:
    return _lenenc(len(data)) + data


class _Link:
    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.seq = 0

    def read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    def read(self) -> bytes:
        header = self.read_exact(4)
        size = int.from_bytes(header[:3], "little")
        self.seq = header[3] + 1
        return self.read_exact(size)

    def send(self, payload: bytes) -> None:
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq & 0xFF]) + payload)
        self.seq += 1


_OK = b"\x00\x00\x00\x02\x00\x00\x00"
_EOF = b"\xfe\x00\x00\x02\x00"


def _column(name: str) -> bytes:
    text = name.encode()
    return (_lenenc_str(b"def") + _lenenc_str(b"") + _lenenc_str(b"t") + _lenenc_str(b"t") + _lenenc_str(text)
            + _lenenc_str(text) + b"\x0c" + struct.pack("<H", 33) + struct.pack("<I", 255) + b"\xfd"
            + struct.pack("<H", 0) + b"\x00" + b"\x00\x00")


AUTH_METHODS = ("mysql_clear_password", "dialog", "caching_sha2_password", "sha256_password", "none")


def _rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_password(link: _Link, salt: bytes) -> str:
    """Send our public key, decrypt what comes back (the password XOR the salt, RSA-OAEP)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _rsa_key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    link.send(b"\x01" + pem)
    sealed = link.read()
    plain = key.decrypt(sealed, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    return bytes(b ^ salt[i % len(salt)] for i, b in enumerate(plain)).rstrip(b"\x00").decode("utf-8", "replace")


def _authenticate(link: _Link, client: MyClient, auth: str, salt: bytes) -> None:
    """Switch the client to `auth` and record the password it gives away (if it does)."""
    if auth == "none":
        return
    if auth == "dialog":
        link.send(b"\xfe" + b"dialog\x00" + b"\x05" + b"Password: ")
        client.password = link.read().rstrip(b"\x00").decode("utf-8", "replace")
        return
    if auth == "mysql_clear_password":
        link.send(b"\xfe" + b"mysql_clear_password\x00" + b"\x00")
        client.password = link.read().rstrip(b"\x00").decode("utf-8", "replace")
        return
    link.send(b"\xfe" + auth.encode() + b"\x00" + salt + b"\x00")
    answer = link.read()
    if auth == "caching_sha2_password":  # a scramble: not in the cache, "perform full authentication"
        link.send(b"\x01\x04")
        answer = link.read()
    if answer in (b"\x01", b"\x02"):  # the client asks for our public key
        client.password = _rsa_password(link, salt)
    elif answer:
        client.password = answer.rstrip(b"\x00").decode("utf-8", "replace")  # sent in clear (over TLS)


def _handshake(link: _Link, tls: ssl.SSLContext | None, client: MyClient, auth: str = AUTH_METHODS[0]) -> Any:
    caps = _CAPS | (CLIENT_SSL if tls is not None else 0)
    salt = b"abcdefgh" + b"ijklmnopqrst"
    greeting = (b"\x0a" + b"5.7.99-fake\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00"
                + struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2)
                + struct.pack("<H", caps >> 16) + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00"
                + b"mysql_native_password\x00")
    link.send(greeting)
    response = link.read()
    client.capabilities = struct.unpack("<I", response[:4])[0]
    if len(response) == 32 and client.capabilities & CLIENT_SSL and tls is not None:
        link.sock = tls.wrap_socket(link.sock, server_side=True)
        client.tls = True
        response = link.read()
        client.capabilities = struct.unpack("<I", response[:4])[0]
    client.user = response[32:].split(b"\x00", 1)[0].decode()
    _authenticate(link, client, auth, salt)
    link.send(_OK)
    return link


def _serve(sock: socket.socket, server: FakeMySQL, script: Script, tls: ssl.SSLContext | None, auth: str) -> None:
    client = MyClient()
    server.connections.append(client)
    link = _Link(sock)
    try:
        _converse(link, client, script, tls, auth)
    finally:
        if link.sock is not sock:
            link.sock.close()  # the TLS wrapper; the caller closes the plain socket


def _converse(link: _Link, client: MyClient, script: Script, tls: ssl.SSLContext | None, auth: str) -> None:
    _handshake(link, tls, client, auth)
    while True:
        packet = link.read()
        if not packet or packet[0] == 0x01:  # COM_QUIT
            return
        if packet[0] != 0x03:  # anything but COM_QUERY (ping, init db...): OK
            link.send(_OK)
            continue
        query = packet[1:].decode("utf-8", "replace")
        client.queries.append(query)
        reply = script(query)
        if isinstance(reply, Infile):
            link.send(b"\xfb" + reply.name.encode())
            data = b""
            while chunk := link.read():
                data += chunk
            client.files.append(data)
            link.send(_OK)
        elif isinstance(reply, Rows):
            link.send(_lenenc(len(reply.columns)))
            for name in reply.columns:
                link.send(_column(name))
            link.send(_EOF)
            for row in reply.rows:
                link.send(b"".join(b"\xfb" if v is None else _lenenc_str(str(v).encode()) for v in row))
            link.send(_EOF)
        else:
            link.send(_OK)


@contextmanager
def fake_mysql(script: Script, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
               auth: str = AUTH_METHODS[0]) -> Iterator[FakeMySQL]:
    """Serve on `host` (an ephemeral port) until the block ends; one thread per client."""
    if auth not in AUTH_METHODS:
        raise ValueError(f"auth must be one of {AUTH_METHODS}")
    listener = socket.create_server((host, 0))
    listener.settimeout(0.2)
    server = FakeMySQL(host, listener.getsockname()[1])
    stop = threading.Event()

    def client_thread(sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            _serve(sock, server, script, tls, auth)
        except (OSError, ssl.SSLError, ConnectionError, struct.error, ValueError):
            pass
        finally:
            sock.close()

    def loop() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=client_thread, args=(sock,), name="fake-mysql-client", daemon=True).start()

    thread = threading.Thread(target=loop, name="fake-mysql", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()
        thread.join(5)
