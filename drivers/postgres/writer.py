"""postgres.writer: write an Arrow stream into a table in one transaction (COPY via ADBC).

It is also a `StagedWriter`: a distributed backend stages each partition in its own table and
publishes them all in one transaction (`staged.py`).
"""

from __future__ import annotations

import pyarrow as pa

from osiris.drivers.postgres import params_from, write_options, write_stream
from osiris.drivers.postgres.connect import PgParams
from osiris.drivers.postgres.staged import discard_staged, publish_staged, stage_partition
from osiris.drivers.postgres.state import TableStateKeeper
from osiris.drivers.postgres.tools import PostgresConnectionTools
from osiris.runtime.driver import StepContext, WriteResult

__all__ = ["PostgresWriter"]


class PostgresWriter(TableStateKeeper, PostgresConnectionTools):
    """Writer + StagedWriter + StateKeeper + Discoverer + HealthCheck for the `postgres` family."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        params = params_from(ctx.connection, ctx.config)
        return write_stream(params, ctx, data, write_options(dict(ctx.config), params.schema, ctx.batch_rows))

    def stage(self, ctx: StepContext, data: pa.RecordBatchReader, token: str, partition: int) -> WriteResult:
        params = params_from(ctx.connection, ctx.config)
        opts = write_options(dict(ctx.config), params.schema, ctx.batch_rows)
        return stage_partition(params, ctx, data, opts, token, partition)

    def publish(self, ctx: StepContext, token: str, partitions: int) -> WriteResult:
        params = params_from(ctx.connection, ctx.config)
        opts = write_options(dict(ctx.config), params.schema, ctx.batch_rows)
        return publish_staged(params, ctx, opts, token, partitions)

    def discard(self, ctx: StepContext, token: str, partitions: int) -> None:
        params = params_from(ctx.connection, ctx.config)
        opts = write_options(dict(ctx.config), params.schema, ctx.batch_rows)
        discard_staged(params, opts.schema, token, partitions)

    # -- StateKeeper: `_osiris_state` in the target table's schema (state.TableStateKeeper) -------
    def _state_place(self, ctx: StepContext) -> tuple[PgParams, str]:
        params = params_from(ctx.connection, ctx.config)
        return params, write_options(dict(ctx.config), params.schema, ctx.batch_rows).schema
