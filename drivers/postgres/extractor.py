"""postgres.extractor: stream a table or query from PostgreSQL as Arrow batches."""

from __future__ import annotations

import pyarrow as pa

from drivers.common.pg import discover, health_check, params_from, select_sql, stream_query
from runtime.driver import DiscoveryResult, HealthReport, ResolvedConnection, StepContext

__all__ = ["PostgresExtractor"]


class PostgresExtractor:
    """Extractor + Discoverer + HealthCheck for the `postgres` family."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        params = params_from(ctx.connection, ctx.config)
        batch_rows = int(ctx.config.get("batch_size") or ctx.batch_rows)
        return stream_query(params, select_sql(ctx.config, params.schema), ctx, batch_rows=batch_rows)

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
