"""postgres.extractor: stream a table or query from PostgreSQL as Arrow batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres import params_from, select_sql, stream_query
from osiris.drivers.postgres.connect import literal, quote_ident, split_table
from osiris.drivers.postgres.extract import PageSplit
from osiris.drivers.postgres.partitions import partition_sql, plan_partitions
from osiris.drivers.postgres.tools import PostgresConnectionTools
from osiris.runtime.driver import Partition, PartitionHints, StepContext

__all__ = ["PostgresExtractor"]


class PostgresExtractor(PostgresConnectionTools):
    """Extractor + PartitionedExtractor + Discoverer + HealthCheck for the `postgres` family."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        params = params_from(ctx.connection, ctx.config)
        batch_rows = int(ctx.config.get("batch_size") or ctx.batch_rows)
        partition = getattr(ctx, "partition", None)
        bound = getattr(ctx, "incremental", None)
        split = None
        if partition is not None:
            sql = partition_sql(ctx.config, params.schema, partition.spec)
        elif bound is not None and bound.value is not None:
            sql = incremental_sql(ctx.config, params.schema, bound)
        else:
            sql = select_sql(ctx.config, params.schema)
            split = page_split(ctx.config, params.schema)
        return stream_query(params, sql, ctx, batch_rows=batch_rows, split=split)

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        return plan_partitions(params_from(ctx.connection, ctx.config), ctx.config, hints)


def page_split(config: Mapping[str, Any], schema: str) -> PageSplit | None:
    """A whole-table read (no `query`, no `limit`) may be read as page ranges in parallel."""
    table = config.get("table")
    if config.get("query") or not table or config.get("limit"):
        return None
    return PageSplit(*split_table(str(table), schema), lambda where: select_sql(config, schema, where=where))


def incremental_sql(config: Mapping[str, Any], schema: str, bound: Any) -> str:
    """The step's read narrowed to its incremental window (runtime/incremental.py); cursor
    values are typed literals rendered by psycopg, never spliced text."""
    if bound.value is None:
        return select_sql(config, schema)
    if config.get("table"):
        return select_sql(config, schema, where=f" WHERE {bound.where(quote_ident(bound.column), literal)}")
    query = str(config.get("query") or "").strip().rstrip(";").strip()
    predicate = bound.where(f"osiris_inc.{quote_ident(bound.column)}", literal)
    return f"SELECT * FROM ({query}\n) AS osiris_inc WHERE {predicate}"
