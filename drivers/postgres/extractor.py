"""postgres.extractor: stream a table or query from PostgreSQL as Arrow batches."""

from __future__ import annotations

import pyarrow as pa

from osiris.drivers.postgres import params_from, select_sql, stream_query
from osiris.drivers.postgres.tools import PostgresConnectionTools
from osiris.runtime.driver import StepContext

__all__ = ["PostgresExtractor"]


class PostgresExtractor(PostgresConnectionTools):
    """Extractor + Discoverer + HealthCheck for the `postgres` family."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        params = params_from(ctx.connection, ctx.config)
        batch_rows = int(ctx.config.get("batch_size") or ctx.batch_rows)
        return stream_query(params, select_sql(ctx.config, params.schema), ctx, batch_rows=batch_rows)
