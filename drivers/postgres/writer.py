"""postgres.writer: write an Arrow stream into a table in one transaction (COPY via ADBC)."""

from __future__ import annotations

import pyarrow as pa

from osiris.drivers.postgres import params_from, write_options, write_stream
from osiris.drivers.postgres.tools import PostgresConnectionTools
from osiris.runtime.driver import StepContext, WriteResult

__all__ = ["PostgresWriter"]


class PostgresWriter(PostgresConnectionTools):
    """Writer + Discoverer + HealthCheck for the `postgres` family."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        params = params_from(ctx.connection, ctx.config)
        return write_stream(params, ctx, data, write_options(dict(ctx.config), params.schema, ctx.batch_rows))
