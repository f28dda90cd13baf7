"""Which path a supabase step takes, and the settings for each.

A connection with `dsn` goes to the project's Postgres database (the same ADBC code as
postgres.*: streaming reads, COPY writes, transactions). Without `dsn` the step talks to the
REST API (PostgREST) with the `supabase` client, authenticated by `service_role_key`
(preferred: it bypasses row-level security), else `key`, else `anon_key`.

The key goes only to the alias's URL: a step's `url`/`project_id` apply only where the alias
allows them, a project id is a name (never a host), and an `http://` URL to a remote host is
reported once per run as unencrypted.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from osiris.drivers.common.transport import note_transport
from osiris.drivers.postgres import PgParams, params_from
from osiris.runtime.driver import DriverError, ResolvedConnection

__all__ = ["RestSettings", "has_dsn", "pg_params", "rest_settings"]

KEY_FIELDS = ("service_role_key", "key", "anon_key")
_OVERRIDES = ("url", "project_id", "schema")
_PROJECT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class RestSettings:
    url: str
    key: str
    schema: str
    timeout: float
    ref: str

    def __repr__(self) -> str:
        return f"RestSettings({self.ref} {self.url})"

    __str__ = __repr__


def _require(connection: ResolvedConnection | None) -> ResolvedConnection:
    if connection is None:
        raise DriverError("this step needs a Supabase connection", hint="set `connection: @supabase.<alias>`")
    return connection


def has_dsn(connection: ResolvedConnection | None) -> bool:
    return bool(_require(connection).get("dsn"))


def pg_params(connection: ResolvedConnection | None, config: Mapping[str, Any] | None = None) -> PgParams:
    return params_from(_require(connection), config, default_schema="public")


def rest_settings(
    connection: ResolvedConnection | None, config: Mapping[str, Any] | None = None
) -> RestSettings:
    connection = _require(connection)
    config = config or {}
    fields = connection.with_overrides(config, _OVERRIDES)
    url = fields.get("url")
    project = fields.get("project_id")
    if not url and project:
        if not _PROJECT_ID.fullmatch(str(project)):
            raise DriverError(f"{connection.ref}: `project_id` {str(project)[:80]!r} is not a Supabase project id",
                              hint="a project id is lower-case letters, digits and dashes; or give `url`")
        url = f"https://{project}.supabase.co"
    if not url:
        raise DriverError(
            f"{connection.ref} has neither `url` (or `project_id`) nor `dsn`",
            hint="give the project URL and an API key for REST, or `dsn` for the Postgres path",
        )
    key = next((str(connection.get(name)) for name in KEY_FIELDS if connection.get(name)), "")
    if not key:
        raise DriverError(
            f"{connection.ref} has no API key",
            hint="set `service_role_key` (preferred), `key` or `anon_key`, e.g. from ${SUPABASE_KEY}",
        )
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DriverError(f"{connection.ref}: `url` must be an http(s) URL with a host",
                          hint="e.g. https://<project>.supabase.co")
    if parts.scheme == "http":
        note_transport(connection, [parts.hostname], "without TLS (an http:// URL)")
    schema = str(fields.get("schema") or "public")
    return RestSettings(str(url).rstrip("/"), key, schema, float(config.get("timeout") or 30), connection.ref)
