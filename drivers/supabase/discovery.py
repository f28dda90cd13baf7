"""Discovery and health checks for Supabase: the database with `dsn`, else PostgREST's OpenAPI."""

from __future__ import annotations

import time

import pyarrow as pa

from osiris.drivers import postgres as pg
from osiris.drivers.supabase.rest import RestSession, rest_table
from osiris.drivers.supabase.restypes import plan_columns, rows_to_batch
from osiris.drivers.supabase.settings import has_dsn, pg_params, rest_settings
from osiris.runtime.driver import (
    ColumnInfo,
    DiscoveryResult,
    DriverError,
    HealthReport,
    ResolvedConnection,
    TableInfo,
)

__all__ = ["discover", "fingerprint", "health_check"]


def discover(
    connection: ResolvedConnection | None, *, tables: list[str] | None = None, sample_rows: int = 0
) -> DiscoveryResult:
    if has_dsn(connection):
        return pg.discover(
            pg_params(connection), tables=tables, sample_rows=sample_rows, source=connection.ref
        )
    settings = rest_settings(connection)
    with RestSession(settings) as session:
        definitions = session.openapi().get("definitions") or {}
        names = tables or sorted(name for name in definitions if _is_table_path(name))
        found = []
        for name in names:
            definition = definitions.get(name)
            if definition is None:
                raise DriverError(f"table {settings.schema}.{name} is not in the API schema")
            found.append(_table(session, settings.schema, name, definition, sample_rows))
    return DiscoveryResult(tables=tuple(found), source=connection.ref)


def fingerprint(connection: ResolvedConnection | None) -> str | None:
    """With `dsn` the PostgreSQL schema fingerprint; over REST there is no cheap probe (None)."""
    return pg.fingerprint(pg_params(connection)) if has_dsn(connection) else None


def _is_table_path(name: str) -> bool:
    """Is `name` (from the server's API schema) one REST path segment? Others are left out, not
    requested: see `rest_table`."""
    try:
        rest_table(name)
    except DriverError:
        return False
    return True


def _table(session: RestSession, schema: str, name: str, definition: dict, sample_rows: int) -> TableInfo:
    properties = definition.get("properties") or {}
    required = set(definition.get("required") or [])
    plans = plan_columns("*", {col: prop.get("format") for col, prop in properties.items()})
    columns = tuple(
        ColumnInfo(
            name=plan.name,
            type=str(properties[plan.name].get("format") or "json"),
            arrow_type=str(plan.field.type),
            nullable=plan.name not in required,
            primary_key="<pk/>" in str(properties[plan.name].get("description") or ""),
        )
        for plan in plans
    )
    sample: tuple = ()
    if sample_rows:
        arrow_schema = pa.schema([p.field for p in plans])
        select = ",".join(p.request for p in plans)
        pages = session.pages(name, select, [], [], offset=0, limit=sample_rows, page_size=sample_rows)
        sample = tuple(row for page in pages for row in rows_to_batch(page, arrow_schema).to_pylist())
    return TableInfo(name=name, schema=schema, columns=columns, row_count=session.count(name), sample=sample)


def health_check(connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
    """With `dsn` check the database; otherwise fetch the API schema with the configured key."""
    if has_dsn(connection):
        return pg.health_check(pg_params(connection), timeout_s)
    started = time.perf_counter()
    try:
        settings = rest_settings(connection, {"timeout": timeout_s})
        with RestSession(settings) as session:
            document = session.openapi()
    except DriverError as error:
        return HealthReport(ok=False, message=str(error), details={"hint": error.hint or ""})
    latency = round((time.perf_counter() - started) * 1000, 1)
    tables = len(document.get("definitions") or {})
    return HealthReport(
        ok=True,
        message=f"Supabase REST API answers at {settings.url} ({tables} tables in {settings.schema})",
        latency_ms=latency,
        details={"url": settings.url, "schema": settings.schema, "tables": tables},
    )
