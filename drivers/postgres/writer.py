"""postgres.writer: write an Arrow stream into a table in one transaction (COPY via ADBC)."""

from __future__ import annotations

import pyarrow as pa

from drivers.common.pg import discover, health_check, params_from, write_options, write_stream
from runtime.driver import DiscoveryResult, HealthReport, ResolvedConnection, StepContext, WriteResult

__all__ = ["PostgresWriter"]


class PostgresWriter:
    """Writer + Discoverer + HealthCheck for the `postgres` family."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        params = params_from(ctx.connection, ctx.config)
        return write_stream(params, ctx, data, write_options(dict(ctx.config), params.schema, ctx.batch_rows))

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        params = params_from(connection)
        return discover(
            params, tables=tables, sample_rows=sample_rows, source=connection.ref if connection else ""
        )

    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        return health_check(params_from(connection), timeout_s)
