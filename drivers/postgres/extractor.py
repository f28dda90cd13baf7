"""postgres.extractor: stream a table or query from PostgreSQL as Arrow batches."""

from __future__ import annotations

import pyarrow as pa

from osiris.drivers.postgres import params_from, select_sql, stream_query
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
        sql = partition_sql(ctx.config, params.schema, partition.spec) if partition is not None \
            else select_sql(ctx.config, params.schema)
        return stream_query(params, sql, ctx, batch_rows=batch_rows)

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        return plan_partitions(params_from(ctx.connection, ctx.config), ctx.config, hints)
