"""Connections to MySQL/MariaDB, and turning client errors into `DriverError`s.

Everything that opens a connection goes through here, so every session gets the same
settings: utf8mb4, UTC time zone (TIMESTAMP values arrive as UTC and are typed as such),
backslash escapes on (the writer's literals rely on them) and generous network timeouts (a
slow downstream step must not make the server drop a streaming read).

Error messages never carry the password or the connectorx URL: `mask` removes both, and
the URL is only built in `cx_url`, never formatted into a message.

Where a connection goes is the alias's business: a step's host/port/database/user replace
the alias's only where it allows them (`ResolvedConnection.with_overrides`). TLS follows the
alias's `ssl: {mode, ca}` on every path, pymysql and connectorx alike (`cx_url`), and a
remote host without guaranteed TLS is reported once per run (`drivers.common.transport`).
Every connection is a `GuardedConnection`, which sends a LOCAL INFILE file only to the LOAD
DATA statement that generated it (`drivers.mysql.infile`).
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pymysql
from pymysql.constants import CLIENT

from osiris.drivers.common.transport import is_local, note_transport
from osiris.drivers.mysql.infile import GuardedConnection
from osiris.runtime.driver import DriverError, ResolvedConnection, TransientError

__all__ = [
    "SSL_MODES", "ConnParams", "classify", "conn_params", "connect", "connectorx", "cx_refused", "cx_url",
    "error_code", "kill_queries", "mask", "qualified", "quote_ident", "split_table",
]

_OVERRIDES = ("host", "port", "database", "user")
SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
_UNSURE = {
    "disabled": "without TLS (ssl mode disabled)",
    "preferred": "possibly without TLS (ssl mode preferred: TLS only if the server offers it; "
    "set `ssl: {mode: verify_identity}` to require it)",
}
_CX_MODES = {"disabled": "DISABLED", "required": "REQUIRED", "verify_ca": "VERIFY_CA",
             "verify_identity": "VERIFY_IDENTITY"}
_TLS_OFFERED: dict[tuple[str, int], bool] = {}
"""(host, port) -> did the server offer TLS in its last handshake (what `preferred` got)."""
_LEXING_MODES = ("ANSI", "DB2", "MAXDB", "MSSQL", "ORACLE", "POSTGRESQL", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES")
SESSION_SETUP = (
    "SET time_zone = '+00:00'",
    # Bound parameters (compiler/sql_binding.py) are lexed at compile time with backslash
    # escapes on and "..." as strings: drop NO_BACKSLASH_ESCAPES, ANSI_QUOTES and the modes
    # that imply ANSI_QUOTES, keeping the rest of the server's sql_mode.
    "SET SESSION sql_mode = TRIM(BOTH ',' FROM " + "REPLACE(" * len(_LEXING_MODES)
    + "CONCAT(',', @@SESSION.sql_mode, ',')" + "".join(f", ',{m},', ',')" for m in _LEXING_MODES) + ")",
    "SET SESSION net_write_timeout = 3600",
    "SET SESSION net_read_timeout = 3600",
)
# Retrying these may succeed: deadlock, lock wait timeout, lost/refused connection, server
# shutting down, too many connections, query interrupted by KILL QUERY.
TRANSIENT_CODES = frozenset({1205, 1213, 1040, 1053, 1927, 2003, 2006, 2013, 2055})
_HINTS = {
    1045: "check the user and password of the connection",
    1044: "check the database name and the user's grants",
    1049: "check the `database` of the connection",
    1062: "the data repeats a key that is already in the table (or twice in the stream)",
    1146: "check the table name; discovery lists the tables",
    1064: "check the SQL syntax near the quoted text",
    1054: "check the column names; discovery lists them",
    1205: "another transaction holds a lock; the step is retried per its retry policy",
    1213: "a deadlock with another transaction; the step is retried per its retry policy",
    1451: "a foreign key refers to this row",
    1452: "a foreign key value has no parent row",
    2003: "check the host and port, and that the server runs",
    2006: "the server closed the connection",
    2013: "the connection was lost during the query",
}


@dataclass(frozen=True)
class ConnParams:
    """Resolved connection fields. The repr hides the password."""

    host: str
    port: int
    database: str | None
    user: str | None
    password: str
    charset: str = "utf8mb4"
    ssl_mode: str = "preferred"
    ssl_ca: str | None = None

    def __repr__(self) -> str:
        return f"ConnParams({self.user}@{self.host}:{self.port}/{self.database})"

    __str__ = __repr__

    @property
    def where(self) -> str:
        """Where we connect, for messages (no secrets)."""
        return f"{self.host}:{self.port}/{self.database or ''}"


def conn_params(connection: ResolvedConnection | None, config: Mapping[str, Any] | None = None) -> ConnParams:
    """The connection's fields with the step's overrides the alias allows (host/port/database/user);
    an override it does not allow fails the step."""
    fields: dict[str, Any] = connection.with_overrides(config, _OVERRIDES) if connection is not None else {}
    if not fields.get("user"):
        raise DriverError(
            "the MySQL connection has no `user`",
            hint="set `user` in the connection alias in osiris_connections.yaml",
        )
    try:
        port = int(fields.get("port") or 3306)
    except (TypeError, ValueError):
        raise DriverError("the MySQL connection's `port` is not a number") from None
    tls = fields.get("ssl") or {}
    mode = str(tls.get("mode") or "preferred")
    if mode not in SSL_MODES:
        raise DriverError(f"the MySQL connection's `ssl.mode` cannot be {mode!r}",
                          hint=f"one of: {', '.join(SSL_MODES)}")
    params = ConnParams(
        host=str(fields.get("host") or "localhost"),
        port=port,
        database=fields.get("database") or None,
        user=str(fields["user"]),
        password=str(fields.get("password") or ""),
        charset=str(fields.get("charset") or "utf8mb4"),
        ssl_mode=mode,
        ssl_ca=str(tls["ca"]) if tls.get("ca") else None,
    )
    note_transport(connection, [params.host], _UNSURE.get(mode))
    return params


def _ssl_args(params: ConnParams) -> dict[str, Any]:
    """pymysql's TLS arguments for the connection's `ssl.mode` (as the mysql client's --ssl-mode)."""
    if params.ssl_mode == "disabled":
        return {"ssl_disabled": True}
    if params.ssl_mode == "preferred":
        return {}  # pymysql >= 1.2: TLS when the server offers it, certificate not checked
    if params.ssl_ca and not os.path.isfile(params.ssl_ca):
        raise DriverError(f"the MySQL connection's `ssl.ca` file {params.ssl_ca} does not exist",
                          hint="give the path of the PEM file of the CA that signed the server's certificate")
    context = ssl.create_default_context(cafile=params.ssl_ca)
    # as pymysql's own contexts: MySQL's auto-generated certificates fail the X.509 strict checks
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if params.ssl_mode == "required":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.check_hostname = params.ssl_mode == "verify_identity"
    return {"ssl": context}  # pymysql refuses a server without TLS when given a context


def mask(text: str, params: ConnParams | None) -> str:
    """Remove the password (plain and URL-encoded) and any mysql:// URL from a message."""
    text = re.sub(r"mysql://\S+", "mysql://***", text)
    if params is not None and params.password:
        for secret in {params.password, urllib.parse.quote(params.password, safe="")}:
            text = text.replace(secret, "***")
    return text


def connect(
    params: ConnParams,
    *,
    streaming: bool = False,
    local_infile: bool = False,
    autocommit: bool = True,
    connect_timeout: float = 10.0,
) -> pymysql.connections.Connection:
    """Open a pymysql connection with the session settings every Osiris step uses.

    `streaming` makes the default cursor unbuffered (rows are read as they are fetched).
    """
    cursor = pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor
    try:
        conn = GuardedConnection(
            host=params.host,
            port=params.port,
            user=params.user,
            password=params.password,
            database=params.database,
            charset=params.charset,
            cursorclass=cursor,
            autocommit=autocommit,
            local_infile=local_infile,
            connect_timeout=max(1, int(connect_timeout)),
            **_ssl_args(params),
        )
    except Exception as error:  # noqa: BLE001 - every failure becomes a DriverError
        raise classify(error, params, action=f"connect to MySQL at {params.where}") from None
    _TLS_OFFERED[(params.host, params.port)] = bool(conn.server_capabilities & CLIENT.SSL)
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            for statement in SESSION_SETUP:
                cur.execute(statement)
    except Exception as error:  # noqa: BLE001
        conn.close()
        raise classify(error, params, action="set up the MySQL session") from None
    return conn


def kill_queries(params: ConnParams, where: str, args: tuple = ()) -> None:
    """`KILL QUERY` the server threads PROCESSLIST finds by `where` (not this connection's own):
    a read we stop early must not run on in the server. Best effort: failures are ignored."""
    with contextlib.suppress(Exception):
        conn = connect(params)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT ID FROM information_schema.PROCESSLIST WHERE ({where}) "
                            "AND ID <> CONNECTION_ID()", args)
                for (thread_id,) in cur.fetchall():
                    cur.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            conn.close()


def connectorx() -> ModuleType:
    """connectorx, imported by the reads that use it, in the step's own thread (so a missing
    library names its extra): writers and the pymysql stream path never load it (~30 ms)."""
    import connectorx as cx

    return cx


def cx_url(params: ConnParams) -> str:
    """The connectorx URL (secret: never put it in a message, event or file), with the TLS
    setting pymysql would use: connectorx's ssl-mode values mean what the mysql client's do,
    except PREFERRED, which refuses a server without TLS; so `preferred` becomes REQUIRED
    (unverified, as pymysql's preferred) or DISABLED after what the server offered pymysql.
    DriverError when connectorx may not carry the password there (`cx_refused`)."""
    refused = cx_refused(params)
    if refused:
        raise DriverError(f"connectorx cannot read from {params.where}: {refused}", hint=CX_REFUSED_HINT)
    user = urllib.parse.quote(params.user or "", safe="")
    password = urllib.parse.quote(params.password, safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    database = urllib.parse.quote(params.database or "", safe="")
    mode = _cx_mode(params)
    query = {"ssl-mode": _CX_MODES[mode]}
    if params.ssl_ca and mode in ("verify_ca", "verify_identity"):
        query["ssl-ca"] = params.ssl_ca
    host = f"[{params.host}]" if ":" in params.host and not params.host.startswith("[") else params.host
    return f"mysql://{auth}{host}:{params.port}/{database}?{urllib.parse.urlencode(query)}"


CX_REFUSED_HINT = "require TLS for this alias (`ssl: {mode: verify_identity, ca: ...}`), or use `fetch_mode: stream`"


def cx_refused(params: ConnParams) -> str | None:
    """Why connectorx must not connect (None: it may). Its MySQL client answers a server that asks
    for caching_sha2_password's full authentication with the password RSA-encrypted under a key
    the server sends, and cannot be told not to (pymysql can: `drivers.mysql.auth`); over a link
    without TLS to another machine whoever answers would read the password."""
    if is_local(params.host) or _cx_mode(params) != "disabled":
        return None
    return (f"the link to {params.host} has no TLS, and connectorx would give the password to a server "
            "that asks for it in a form it can read")


def _cx_mode(params: ConnParams) -> str:
    if params.ssl_mode == "preferred":
        return "required" if _tls_offered(params) else "disabled"
    return params.ssl_mode


def _tls_offered(params: ConnParams) -> bool:
    """Whether the server offers TLS, from this process's last pymysql handshake with it."""
    if (params.host, params.port) not in _TLS_OFFERED:
        connect(params).close()
    return _TLS_OFFERED[(params.host, params.port)]


def error_code(error: BaseException) -> int | None:
    """The server/client error number of a pymysql or connectorx error, if any."""
    args = getattr(error, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    found = re.search(r"ERROR (\d{4})", str(error))
    if found:
        return int(found.group(1))
    if re.search(r"Connection refused|Could not connect", str(error)):
        return 2003
    if re.search(r"connection (was )?(reset|closed|aborted)|broken pipe|unexpected eof|Lost connection"
                 r"|bytes remaining on stream",  # connectorx when the server drops the connection
                 str(error), re.IGNORECASE):
        return 2013
    return None


def _server_message(error: BaseException) -> str:
    args = getattr(error, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    text = str(error)
    found = re.search(r"ERROR \d{4} \([0-9A-Z]{5}\): (.*?)\s*\}?$", text, re.DOTALL)
    return found.group(1) if found else text


def classify(error: BaseException, params: ConnParams | None, *, action: str) -> DriverError:
    """Turn a client error into a DriverError (permanent) or TransientError (retryable)."""
    if isinstance(error, DriverError):
        return error
    code = error_code(error)
    detail = mask(_server_message(error), params) or type(error).__name__
    message = f"could not {action}: {detail}" + (f" (MySQL error {code})" if code else "")
    hint = _HINTS.get(code or 0)
    if isinstance(error, pymysql.err.InterfaceError) and code in (None, 0):
        return TransientError(f"could not {action}: the connection is closed", hint=_HINTS[2013])
    if code in TRANSIENT_CODES or isinstance(error, (ConnectionError, TimeoutError)):
        return TransientError(message, hint=hint)
    return DriverError(message, hint=hint)


def quote_ident(name: str) -> str:
    """Quote an identifier with backticks (embedded backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


_NAME_PART = r"`(?:[^`]|``)+`|[^.`]+"
_TABLE_NAME = re.compile(rf"({_NAME_PART})(?:\.({_NAME_PART}))?")


def split_table(name: str) -> tuple[str | None, str]:
    """`db.table` -> (db, table); `table` -> (None, table). Backtick-quoted parts are allowed; a
    stray backtick is an error, not a guess (`we`ird` must not name table `ird` in database `we`)."""
    found = _TABLE_NAME.fullmatch(name)
    if found is None:
        raise DriverError(f"cannot read the table name {name!r}",
                          hint="write `table` or `database.table`; quote a part holding `.` or a backtick "
                               "with backticks, the backtick doubled: `we``ird`")
    names = [p[1:-1].replace("``", "`") if p.startswith("`") else p for p in found.groups() if p is not None]
    return (names[0], names[1]) if len(names) == 2 else (None, names[0])


def qualified(name: str) -> str:
    """A table name as quoted SQL (`db`.`t` or `t`)."""
    schema, table = split_table(name)
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
