"""Connection parameters for PostgreSQL drivers: libpq conninfo from a resolved connection.

The postgres and supabase drivers both reach a database through ADBC; this module turns a
`ResolvedConnection` (a `dsn`, or host/port/database/user/password fields, plus the ssl*
fields) and the step's overrides into one libpq conninfo string, and remembers which strings
are secret so error messages can be scrubbed before anyone sees them.

A step's host/port/database/user apply only where the alias allows them
(`ResolvedConnection.with_overrides`), so a password goes only to the host written next to
it. `sslmode` is always explicit (the alias's, else the dsn's, else `prefer`): libpq's
environment (PGSSLMODE) does not decide it, and a remote host without guaranteed TLS is
reported once per run (`drivers.common.transport`).

The conninfo string is written here (`_emit`, libpq's documented key='value' quoting) and a
`dsn` is read by libpq's own parser (psycopg's `conninfo_to_dict`, imported only then): psycopg
costs ~65 ms of start-up that a run whose connections have no `dsn` does not pay.
tests/drivers/test_postgres_conninfo_matches_libpq.py proves the two agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from osiris.drivers.common.transport import is_local, note_transport
from osiris.runtime.driver import DriverError, ResolvedConnection

__all__ = [
    "PgParams",
    "close_quietly",
    "literal",
    "open_connection",
    "params_from",
    "qualified",
    "quote_ident",
    "split_table",
]

CONNECT_TIMEOUT_S = 10
_OVERRIDES = {"host": "host", "port": "port", "database": "dbname", "user": "user"}
_TLS_FIELDS = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
NO_CLEARTEXT = "!password"
"""libpq `require_auth` for a link that may be plaintext to another machine: no cleartext password."""
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_UNSURE = {
    "disable": "without TLS (sslmode disable)",
    "allow": "possibly without TLS (sslmode allow: TLS only if the server insists)",
    "prefer": "possibly without TLS (sslmode prefer, the default: TLS only if the server offers it, "
    "certificate not checked; set `sslmode: verify-full` to require it)",
}


@dataclass(frozen=True)
class PgParams:
    """Everything needed to open a connection; `repr` shows only the safe `label`."""

    conninfo: str
    schema: str
    label: str
    """`@family.alias host:port/db` - safe to show in messages."""
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"PgParams({self.label})"

    __str__ = __repr__

    def with_timeout(self, seconds: float) -> PgParams:
        timeout = max(1, int(seconds + 0.999))
        # libpq keeps the last value of a keyword given twice
        return PgParams(f"{self.conninfo} connect_timeout={timeout}", self.schema, self.label, self.secrets)


def params_from(
    connection: ResolvedConnection | None,
    config: Mapping[str, Any] | None = None,
    *,
    default_schema: str = "public",
) -> PgParams:
    """Build conninfo from the connection's fields and the step's overrides the alias allows
    (host/port/database/user/schema); an override it does not allow fails the step."""
    if connection is None:
        raise DriverError("this step needs a database connection", hint="set `connection: @postgres.<alias>`")
    fields = connection.with_overrides(config, (*_OVERRIDES, "schema"))
    secrets = [str(fields[key]) for key in ("dsn", "password") if fields.get(key)]
    dsn = fields.get("dsn") or ""
    _refuse_unescaped_userinfo(str(dsn), connection.ref)
    try:
        parsed = _parse_dsn(dsn) if dsn else {}
    except Exception:  # noqa: BLE001 - the parser's message would echo the secret dsn
        raise DriverError(
            f"{connection.ref}: `dsn` is not a valid PostgreSQL connection string",
            hint="use postgresql://user:password@host:port/database",
        ) from None
    if parsed.get("password"):
        secrets.append(str(parsed["password"]))
    extra: dict[str, Any] = {}
    if not dsn:
        extra = {
            "host": fields.get("host") or "localhost",
            "port": fields.get("port") or 5432,
            "dbname": fields.get("database"),
            "user": fields.get("user"),
            "password": fields.get("password") or None,
        }
    else:  # the dsn is the alias's target; only overrides the alias allows replace its parts
        extra = {libpq_key: fields[key] for key, libpq_key in _OVERRIDES.items()
                 if key in connection.may_override and config and config.get(key) not in (None, "")}
    sslmode = str(fields.get("sslmode") or parsed.get("sslmode") or "prefer")
    if sslmode not in SSL_MODES:
        raise DriverError(f"{connection.ref}: sslmode cannot be {sslmode!r}", hint=f"one of: {', '.join(SSL_MODES)}")
    extra["sslmode"] = sslmode
    if not parsed.get("hostaddr") or "host" in extra:
        # An address written nowhere in the file would take the credential elsewhere: libpq reads
        # PGHOSTADDR, or a service file's hostaddr (PGSERVICE), whenever hostaddr is not given.
        extra["hostaddr"] = ""
    extra.update({key: fields[key] for key in _TLS_FIELDS if fields.get(key)})
    if "connect_timeout" not in parsed:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    extra.setdefault("application_name", parsed.get("application_name") or "osiris")
    merged = {**parsed, **{k: str(v) for k, v in extra.items() if v is not None}}
    host = merged.get("host") or os.environ.get("PGHOST")  # a dsn without a host: libpq's default
    port = merged.get("port") or os.environ.get("PGPORT") or 5432
    where = f"{host or 'localhost'}:{port}/{merged.get('dbname', '')}"
    schema = fields.get("schema") or default_schema
    hosts = str(merged.get("hostaddr") or host or "/").split(",")
    if sslmode in _UNSURE and any(not is_local(h) for h in hosts) and "require_auth" not in merged:
        # The link may be plaintext (a server or anyone on the path can refuse TLS): never answer
        # a request for the password in clear. SCRAM and md5 reveal no password; TLS modes may.
        merged["require_auth"] = NO_CLEARTEXT
    note_transport(connection, hosts, _UNSURE.get(sslmode))
    return PgParams(_emit(merged), str(schema), f"{connection.ref} {where}", tuple(secrets))


def _parse_dsn(dsn: str) -> dict[str, str]:
    """A `dsn` (URL or key=value) read by libpq's own parser, as libpq will read it."""
    from psycopg.conninfo import conninfo_to_dict

    return {key: str(value) for key, value in conninfo_to_dict(dsn).items()}


def _emit(options: Mapping[str, str]) -> str:
    """libpq key=value conninfo (the form psycopg's `make_conninfo` writes)."""
    return " ".join(f"{key}={_quote_value(str(value))}" for key, value in options.items())


def _quote_value(value: str) -> str:
    """libpq's rule: backslashes and quotes escaped; empty values and values with spaces quoted."""
    if "\x00" in value:
        raise DriverError("a connection setting contains a NUL character")
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'" if not escaped or any(ch.isspace() for ch in escaped) else escaped


def _refuse_unescaped_userinfo(dsn: str, ref: str) -> None:
    """A `/` or `@` left unescaped in a URL's password makes libpq read part of the password as
    the database name, which then shows up in every message that names the database."""
    if "://" not in dsn:
        return
    _, _, path = dsn.split("://", 1)[1].partition("/")
    if "@" in path.split("?", 1)[0]:
        raise DriverError(
            f"{ref}: `dsn` has an unescaped '/' or '@' in its user name or password",
            hint="percent-encode them in the URL: '/' as %2F, '@' as %40, ':' as %3A",
        )


def quote_ident(name: str) -> str:
    """Quote an identifier exactly as PostgreSQL's quote_ident does (always quoted)."""
    if "\x00" in name:
        raise DriverError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """Render a Python value as a safely escaped SQL literal (for the few places without binding)."""
    from psycopg import sql

    return sql.Literal(value).as_string(None)


def split_table(table: str, schema: str) -> tuple[str, str]:
    """`sales.orders` -> (sales, orders); an unqualified name takes `schema`."""
    if "." in table and not (table.startswith('"') and table.endswith('"')):
        head, _, tail = table.partition(".")
        return head.strip('"'), tail.strip('"')
    return schema, table.strip('"')


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def open_connection(params: PgParams, *, autocommit: bool) -> Any:
    """Open an ADBC connection in UTC; failures become DriverError/TransientError without secrets."""
    import adbc_driver_postgresql.dbapi as adbc

    from osiris.drivers.postgres.errors import classify

    try:
        conn = adbc.connect(params.conninfo, autocommit=autocommit)
    except Exception as error:  # noqa: BLE001 - every failure is reported, scrubbed
        raise classify(
            error, action="connect", label=params.label, secrets=params.secrets, connecting=True
        ) from None
    cur = conn.cursor()
    try:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SET standard_conforming_strings = on")  # how compiler/sql_binding.py lexes '...'
    except Exception as error:  # noqa: BLE001 - the link dropped after login, or a pooler refused it
        close_quietly(cur, conn)
        raise classify(error, action="set up the session", label=params.label, secrets=params.secrets) from None
    cur.close()
    return conn


def close_quietly(*handles: Any) -> None:
    """Close cursors/readers/connections in order, ignoring errors from an already-broken link."""
    for handle in handles:
        if handle is None:
            continue
        try:
            handle.close()
        except Exception:  # noqa: BLE001, S110 - the link may already be gone; nothing to report
            pass
