"""Which path a supabase step takes, and the settings for each.

A connection with `dsn` goes to the project's Postgres database (the same ADBC code as
postgres.*: streaming reads, COPY writes, transactions). Without `dsn` the step talks to the
REST API (PostgREST) with the `supabase` client, authenticated by `service_role_key`
(preferred: it bypasses row-level security), else `key`, else `anon_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.common.pg import PgParams, params_from
from runtime.driver import DriverError, ResolvedConnection

__all__ = ["RestSettings", "has_dsn", "pg_params", "rest_settings"]

KEY_FIELDS = ("service_role_key", "key", "anon_key")


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
    url = config.get("url") or connection.get("url")
    project = config.get("project_id") or connection.get("project_id")
    if not url and project:
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
    schema = str(config.get("schema") or connection.get("schema") or "public")
    return RestSettings(str(url).rstrip("/"), key, schema, float(config.get("timeout") or 30), connection.ref)
