"""Turn ADBC/libpq failures into DriverError or TransientError with the server's own words.

ADBC wraps the server message in layers ("INTEGRITY: [libpq] Failed to execute COPY
statement: PGRES_FATAL_ERROR ERROR:  ... SQLSTATE: 23505"); users need the inner message,
the SQLSTATE and a hint, never the connection string. Retryable failures (serialization,
deadlock, lock timeout, lost connection) become `TransientError` so the runtime's retry
policy can act on them.
"""

from __future__ import annotations

import re

from osiris.runtime.driver import DriverError, TransientError

__all__ = ["HINTS", "TRANSIENT_STATES", "classify", "scrub"]

TRANSIENT_STATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "57014"}
_CONNECTION_WORDS = (
    "terminating connection",
    "server closed the connection",
    "connection refused",
    "could not connect",
    "connection timed out",
    "timeout expired",
    "no connection to the server",
    "connection reset",
    "broken pipe",
    "ssl syscall",
    "the database system is starting up",
    "the database system is shutting down",
    "could not receive data",
    "could not send data",
)
_PERMANENT_CONNECT_WORDS = (
    "does not exist",
    "password authentication failed",
    "no pg_hba.conf entry",
    "could not translate host name",
    "invalid connection option",
    "permission denied",
    "authentication method requirement",
)
HINTS = {
    "23505": "rows collide with existing keys; `write_mode: upsert` with `primary_key` updates them instead",
    "23502": "a NOT NULL column received NULL; fill it upstream or give the column a default",
    "23503": "a foreign key points at a missing row; load the referenced table first",
    "23514": "a CHECK constraint rejected a row",
    "42P01": "check the table name and `schema` (names are case-sensitive when quoted)",
    "42703": "check the column names against the table (discover lists them)",
    "42501": "the connection's user lacks a privilege on this object",
    "42P10": "the target needs a PRIMARY KEY or UNIQUE constraint on exactly the `primary_key` columns",
    "21000": "the same key appears twice in one statement",
    "22003": "a value is out of range for the target column's type",
    "3D000": "check the connection's `database`",
    "28P01": "check the connection's user and password",
    "40001": "a concurrent transaction conflicted; the step can be retried",
    "40P01": "a deadlock with another session; the step can be retried",
    "55P03": "a lock was not granted in time; the step can be retried",
}
_SERVER_MESSAGE = re.compile(r"(?:ERROR|FATAL|PANIC):\s+(.*)", re.DOTALL)
_SQLSTATE = re.compile(r"SQLSTATE:\s*([0-9A-Z]{5})")


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Replace every secret value (longest first, so a DSN goes before its password) with ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _server_text(raw: str) -> str:
    match = _SERVER_MESSAGE.search(raw)
    text = match.group(1) if match else raw
    text = re.split(r"\n\s*(?:CONTEXT:|Query was:)|\.?\s*SQLSTATE:", text)[0]
    text = re.sub(r"^(?:[A-Z_]+: )?\[libpq\]\s*", "", text.strip())
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def classify(
    error: BaseException,
    *,
    action: str,
    label: str,
    secrets: tuple[str, ...] = (),
    connecting: bool = False,
) -> DriverError:
    """Build the user-facing error for `error` raised while doing `action` against `label`."""
    if isinstance(error, DriverError):
        return error
    raw = str(error)
    state = getattr(error, "sqlstate", None) or (m.group(1) if (m := _SQLSTATE.search(raw)) else None)
    text = scrub(_server_text(raw), secrets) or type(error).__name__
    lowered = raw.lower()
    if connecting:
        transient = not any(word in lowered for word in _PERMANENT_CONNECT_WORDS)
    else:
        transient = (
            state in TRANSIENT_STATES
            or (state or "").startswith("08")
            or any(word in lowered for word in _CONNECTION_WORDS)
        )
    code = f" [{state}]" if state else ""
    if connecting and "server requested a cleartext password" in lowered:
        return DriverError(
            f"PostgreSQL {label}: {action} failed: the server asked for the password in clear text over a "
            "connection that may be unencrypted, so Osiris did not send it (a server that refuses TLS, or "
            "anyone on the path, would have read it)",
            hint="require TLS for this alias: `sslmode: verify-full` with `sslrootcert` (or `require`); "
            "docs/connections.md, TLS",
        )
    message = f"PostgreSQL {label}: {action} failed{code}: {text}"
    hint = HINTS.get(state or "")
    if transient and hint is None:
        hint = "the connection was lost or refused; the step can be retried"
    cls = TransientError if transient else DriverError
    return cls(message, hint=hint)
