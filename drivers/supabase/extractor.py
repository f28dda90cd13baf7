"""supabase.extractor: read a table through Postgres (`dsn`) or through the REST API with paging."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from osiris.drivers.common import metered
from osiris.drivers.postgres import select_sql, stream_query
from osiris.drivers.postgres.connect import literal, quote_ident
from osiris.drivers.postgres.extractor import incremental_sql
from osiris.drivers.supabase.filters import filters_sql, incremental_any_of, order_sql, parse_filters, parse_order
from osiris.drivers.supabase.rest import RestSession
from osiris.drivers.supabase.restypes import plan_columns, rows_to_batch
from osiris.drivers.supabase.settings import has_dsn, pg_params, rest_settings
from osiris.drivers.supabase.tools import SupabaseConnectionTools
from osiris.runtime.driver import DriverError, StepContext

__all__ = ["SupabaseExtractor", "postgres_sql"]

_PLAIN = r"^[A-Za-z_][\w$]*$"


def postgres_sql(config: Mapping[str, Any], schema: str, bound: Any = None) -> str:
    """SQL for the Postgres path: `query` as given, or `table` + select/filter/order/limit/offset;
    `bound`, an incremental window (runtime/incremental.py), narrows either."""
    if config.get("query"):
        return incremental_sql(config, schema, bound) if bound is not None else select_sql(config, schema)
    select = str(config.get("select") or "*").strip()
    names = [part.strip() for part in select.split(",")] if select != "*" else []
    if any(not re.match(_PLAIN, name) for name in names):
        raise DriverError(
            f"select {select!r}: the Postgres path takes `*` or plain column names",
            hint="rename, cast or embed in a `query` instead",
        )
    return select_sql(
        config,
        schema,
        projection=", ".join(quote_ident(n) for n in names) or "*",
        where=_and(filters_sql(parse_filters(config.get("filter"))),
                   bound.where(quote_ident(bound.column), literal) if bound is not None else None),
        order=order_sql(parse_order(config.get("order"))),
        offset=int(config["offset"]) if config.get("offset") else None,
    )


def _and(where: str, predicate: str | None) -> str:
    """`where` (" WHERE ..." or "") with `predicate` added."""
    if not predicate:
        return where
    return f"{where} AND {predicate}" if where else f" WHERE {predicate}"


class SupabaseExtractor(SupabaseConnectionTools):
    """Extractor + Discoverer + HealthCheck for the `supabase` family."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        if has_dsn(ctx.connection):
            params = pg_params(ctx.connection, ctx.config)
            bound = getattr(ctx, "incremental", None)
            return stream_query(
                params, postgres_sql(ctx.config, params.schema, bound), ctx, batch_rows=ctx.batch_rows
            )
        if ctx.config.get("query"):
            raise DriverError(
                "`query` needs the Postgres path, but the connection has no `dsn`",
                hint="add the project's database URL as `dsn`, or read a `table` with `filter`/`order`",
            )
        return _rest_extract(ctx)


def _rest_extract(ctx: StepContext) -> pa.RecordBatchReader:
    config = ctx.config
    settings = rest_settings(ctx.connection, config)
    table = str(config["table"])
    filters = parse_filters(config.get("filter"))
    order = parse_order(config.get("order"))
    session = RestSession(settings)
    try:
        definition = session.definition(table)
        if definition is None:
            raise DriverError(
                f"Supabase {settings.ref}: table {settings.schema}.{table} is not in the API schema",
                hint="check the table name and `schema`; the API key must be allowed to see the table",
            )
        properties = definition.get("properties") or {}
        plans = plan_columns(
            str(config.get("select") or "*"), {k: v.get("format") for k, v in properties.items()}
        )
        if not order:
            keys = [k for k, v in properties.items() if "<pk/>" in str(v.get("description") or "")]
            order = parse_order(",".join(keys))
            if not keys:
                ctx.event(
                    "supabase_unordered_paging",
                    table=table,
                    hint="set `order` for stable paging; the table has no primary key",
                )
    except BaseException:
        session.close()
        raise
    schema = pa.schema([plan.field for plan in plans])
    pages = session.pages(
        table,
        ",".join(plan.request for plan in plans),
        filters,
        order,
        any_of=incremental_any_of(getattr(ctx, "incremental", None)),
        offset=int(config.get("offset") or 0),
        limit=int(config["limit"]) if config.get("limit") else None,
        page_size=int(config.get("page_size") or 1000),
    )
    batches = (rows_to_batch(page, schema) for page in pages)
    return pa.RecordBatchReader.from_batches(schema, metered(ctx, batches, on_close=session.close))
