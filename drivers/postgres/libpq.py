"""libpq through ctypes: the handful of calls the native COPY reader makes, with no psycopg import.

Why not psycopg's connection: `import psycopg` costs 60-120 ms of start-up (its type system,
asyncio, ssl), paid before the first row of every PostgreSQL read, while the reader needs only
to connect, prepare one statement, run a few commands and start a COPY that the C pump then
drains. The library is the one psycopg itself would load, found without importing psycopg: the
libpq linked by psycopg's C implementation (`psycopg_c`, then `psycopg_binary`, psycopg's own
order; dlsym on its extension module searches that module's dependencies, so a wheel's bundled
libpq is found), else the system's (psycopg's pure-Python implementation). PSYCOPG_IMPL chooses
as it does for psycopg.

ctypes releases the GIL around every call, so a connect or a query waits without blocking the
other threads. Each Connection belongs to one thread; only `Canceller.cancel` (PQcancel, made
for this) may run on another.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["Canceller", "Connection", "ConnectError", "ServerError", "library", "library_missing_reason"]

CONNECTION_OK = 0
PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_OUT = 1, 2, 3
PG_DIAG_SQLSTATE, PG_DIAG_MESSAGE_PRIMARY = ord("C"), ord("M")
_VOID_P, _CHAR_P, _INT = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "PQconnectdb": ([_CHAR_P], _VOID_P),
    "PQstatus": ([_VOID_P], _INT),
    "PQerrorMessage": ([_VOID_P], _CHAR_P),
    "PQfinish": ([_VOID_P], None),
    "PQexec": ([_VOID_P, _CHAR_P], _VOID_P),
    "PQprepare": ([_VOID_P, _CHAR_P, _CHAR_P, _INT, _VOID_P], _VOID_P),
    "PQdescribePrepared": ([_VOID_P, _CHAR_P], _VOID_P),
    "PQsendQuery": ([_VOID_P, _CHAR_P], _INT),
    "PQgetResult": ([_VOID_P], _VOID_P),
    "PQsetnonblocking": ([_VOID_P, _INT], _INT),
    "PQresultStatus": ([_VOID_P], _INT),
    "PQresultErrorMessage": ([_VOID_P], _CHAR_P),
    "PQresultErrorField": ([_VOID_P, _INT], _CHAR_P),
    "PQntuples": ([_VOID_P], _INT),
    "PQnfields": ([_VOID_P], _INT),
    "PQfname": ([_VOID_P, _INT], _CHAR_P),
    "PQftype": ([_VOID_P, _INT], ctypes.c_uint),
    "PQfmod": ([_VOID_P, _INT], _INT),
    "PQgetisnull": ([_VOID_P, _INT, _INT], _INT),
    "PQgetvalue": ([_VOID_P, _INT, _INT], _CHAR_P),
    "PQclear": ([_VOID_P], None),
    "PQescapeLiteral": ([_VOID_P, _CHAR_P, ctypes.c_size_t], _VOID_P),
    "PQfreemem": ([_VOID_P], None),
    "PQserverVersion": ([_VOID_P], _INT),
    "PQgetCancel": ([_VOID_P], _VOID_P),
    "PQcancel": ([_VOID_P, _CHAR_P, _INT], _INT),
    "PQfreeCancel": ([_VOID_P], None),
    "PQisthreadsafe": ([], _INT),
    "PQgetCopyData": ([_VOID_P, ctypes.POINTER(ctypes.c_void_p), _INT], _INT),
}


class ConnectError(Exception):
    """The connection could not be made; the text is libpq's (errors.classify reads it)."""


class ServerError(Exception):
    """A failed command, in the shape errors.classify reads (the server's text, `sqlstate`)."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", "replace")


def _c(text: str, what: str) -> bytes:
    """`text` as a C string; a NUL would silently cut it short there, so it is refused."""
    if "\x00" in text:
        raise ServerError(f"{what} contains a NUL character", None)
    return text.encode()


def _extension_of(package: str) -> Path | None:
    """`package`'s compiled `pq` module (linked to its libpq), located without importing it."""
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("pq.*.so"))
        if found:
            return found[0]
    return None


def _load() -> tuple[Any, str | None]:
    import ctypes.util

    wanted = os.environ.get("PSYCOPG_IMPL", "").strip().lower()
    order = [wanted] if wanted in ("c", "binary", "python") else ["c", "binary", "python"]
    for impl in order:
        try:
            if impl == "python":
                name = ctypes.util.find_library("pq")
                lib = ctypes.CDLL(name) if name else None
            else:
                path = _extension_of(f"psycopg_{impl}")
                lib = ctypes.CDLL(str(path)) if path else None
        except (ImportError, OSError, ValueError):
            continue
        if lib is None:
            continue
        try:
            for name, (argtypes, restype) in _SIGNATURES.items():
                function = getattr(lib, name)
                function.argtypes, function.restype = argtypes, restype
        except AttributeError as error:
            return None, f"the libpq psycopg would use lacks {error}"
        if not lib.PQisthreadsafe():
            return None, "the libpq psycopg would use is not thread-safe"
        return lib, None
    return None, "no libpq found (psycopg's C or binary implementation, or the system's libpq)"


@lru_cache(maxsize=1)
def _loaded() -> tuple[Any, str | None]:
    return _load()


def library() -> Any:
    """The ctypes libpq, or None (see library_missing_reason)."""
    return _loaded()[0]


def library_missing_reason() -> str | None:
    return _loaded()[1]


class Canceller:
    """PQcancel for one connection: the one call that may come from another thread."""

    def __init__(self, lib: Any, handle: int) -> None:
        self._lib, self._handle = lib, handle

    def cancel(self) -> None:
        if self._handle:
            self._lib.PQcancel(self._handle, ctypes.create_string_buffer(256), 256)

    def free(self) -> None:
        handle, self._handle = self._handle, 0
        if handle:
            self._lib.PQfreeCancel(handle)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.free()


class Connection:
    """One libpq connection, used by one thread at a time."""

    def __init__(self, conninfo: str) -> None:
        lib = library()
        if lib is None:
            raise ConnectError(library_missing_reason() or "libpq is not available")
        self._lib = lib
        self.pointer: int = 0
        if "\x00" in conninfo:
            raise ConnectError("a connection setting contains a NUL character")
        pointer = lib.PQconnectdb(conninfo.encode())
        if not pointer:
            raise ConnectError("out of memory opening a connection")
        if lib.PQstatus(pointer) != CONNECTION_OK:
            message = _text(lib.PQerrorMessage(pointer)).strip()
            lib.PQfinish(pointer)
            raise ConnectError(message or "the connection failed")
        self.pointer = pointer

    # -- plain commands --------------------------------------------------------------------
    def execute(self, sql: str) -> list[tuple[str | None, ...]]:
        """Run one command; its rows as text (none for a command without a result set)."""
        result = self._lib.PQexec(self._live(), _c(sql, "a query"))
        try:
            self._check(result, (PGRES_COMMAND_OK, PGRES_TUPLES_OK))
            lib = self._lib
            width = lib.PQnfields(result)
            return [tuple(None if lib.PQgetisnull(result, row, col) else _text(lib.PQgetvalue(result, row, col))
                          for col in range(width)) for row in range(lib.PQntuples(result))]
        finally:
            self._lib.PQclear(result)

    def describe(self, sql: str) -> list[tuple[str, int, int]]:
        """(name, type OID, typmod) of each column `sql` returns: prepared, never executed."""
        lib = self._lib
        result = lib.PQprepare(self._live(), b"", _c(sql, "a query"), 0, None)
        try:
            self._check(result, (PGRES_COMMAND_OK,))
        finally:
            lib.PQclear(result)
        result = lib.PQdescribePrepared(self.pointer, b"")
        try:
            self._check(result, (PGRES_COMMAND_OK,))
            return [(_text(lib.PQfname(result, i)), int(lib.PQftype(result, i)), int(lib.PQfmod(result, i)))
                    for i in range(lib.PQnfields(result))]
        finally:
            lib.PQclear(result)

    def literal(self, text: str) -> str:
        """`text` as an SQL string literal, escaped by libpq for this connection."""
        raw = _c(text, "a quoted value")
        escaped = self._lib.PQescapeLiteral(self._live(), raw, len(raw))
        if not escaped:
            raise ServerError(_text(self._lib.PQerrorMessage(self.pointer)).strip() or "cannot quote a value", None)
        try:
            return ctypes.string_at(escaped).decode()
        finally:
            self._lib.PQfreemem(escaped)

    # -- COPY ... TO STDOUT, drained by the C pump between these two calls ----------------
    def start_copy(self, sql: str) -> None:
        """Send `sql` (a COPY TO STDOUT) and wait until the server starts sending rows."""
        lib = self._lib
        lib.PQsetnonblocking(self._live(), 0)  # the pump waits inside libpq for each message
        if not lib.PQsendQuery(self.pointer, _c(sql, "a query")):
            raise ServerError(self.error_message(), None)
        result = lib.PQgetResult(self.pointer)
        try:
            self._check(result, (PGRES_COPY_OUT,))
        except ServerError:
            self._drain()
            raise
        finally:
            lib.PQclear(result)

    def finish_copy(self) -> None:
        """The COPY's final result: an error the server raised after the last row is raised here."""
        result = self._lib.PQgetResult(self.pointer)
        try:
            self._check(result, (PGRES_COMMAND_OK,))
        finally:
            self._lib.PQclear(result)
            self._drain()

    def copy_functions(self) -> tuple[int, int]:
        """Addresses of PQgetCopyData and PQfreemem of the library this connection belongs to."""
        return (ctypes.cast(self._lib.PQgetCopyData, ctypes.c_void_p).value or 0,
                ctypes.cast(self._lib.PQfreemem, ctypes.c_void_p).value or 0)

    # -- the rest ---------------------------------------------------------------------------
    @property
    def server_version(self) -> int:
        return int(self._lib.PQserverVersion(self._live()))

    def error_message(self) -> str:
        return _text(self._lib.PQerrorMessage(self.pointer)).strip() if self.pointer else "the connection is closed"

    def canceller(self) -> Canceller:
        return Canceller(self._lib, self._lib.PQgetCancel(self._live()) or 0)

    def close(self) -> None:
        pointer, self.pointer = self.pointer, 0
        if pointer:
            self._lib.PQfinish(pointer)

    def __del__(self) -> None:  # a connection dropped unclosed (an exception between open and close)
        with contextlib.suppress(Exception):
            self.close()

    def _live(self) -> int:
        if not self.pointer:
            raise ServerError("the connection is closed", None)
        return self.pointer

    def _check(self, result: int | None, wanted: tuple[int, ...]) -> None:
        lib = self._lib
        if result and lib.PQresultStatus(result) in wanted:
            return
        primary = lib.PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) if result else None
        state = lib.PQresultErrorField(result, PG_DIAG_SQLSTATE) if result else None
        text = _text(primary) or (_text(lib.PQresultErrorMessage(result)).strip() if result else "") \
            or self.error_message() or "no message"
        raise ServerError(f"ERROR:  {text}", _text(state) or None)

    def _drain(self) -> None:
        while result := self._lib.PQgetResult(self.pointer):
            self._lib.PQclear(result)
