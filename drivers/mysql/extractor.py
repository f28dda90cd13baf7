"""mysql.extractor: a table or a query as a stream of Arrow record batches.

Two read paths give the same schema and values (see `drivers.mysql.types`):

- bulk: connectorx over integer key ranges with a prefetch thread (`bulk.py`), several
  times faster than any Python client, memory bounded by the range size;
- stream: an unbuffered pymysql cursor (`stream.py`), for any SELECT, one batch in memory.

`fetch_mode: auto` (the default) takes bulk when there is an integer key (`partition_on`, or a
table's primary key) and the result has no untyped NULL columns; otherwise stream.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from drivers.mysql.bulk import bulk_batches
from drivers.mysql.connect import conn_params
from drivers.mysql.plan import Source, plan_bulk
from drivers.mysql.stream import probe, stream_batches
from drivers.mysql.tools import MySQLConnectionTools
from runtime.driver import DriverError, StepContext

__all__ = ["MySQLExtractor"]

FETCH_MODES = ("auto", "bulk", "stream")


def _int_option(config: dict, key: str, default: int | None) -> int | None:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DriverError(f"`{key}` must be a positive integer, got {value!r}")
    return value


class MySQLExtractor(MySQLConnectionTools):
    """Extractor + Discoverer + HealthCheck for MySQL and MariaDB."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        config = dict(ctx.config)
        params = conn_params(ctx.connection, config)
        source = Source.from_config(config)
        batch_size = _int_option(config, "batch_size", ctx.batch_rows or 65536) or 65536
        limit = _int_option(config, "limit", None)
        mode = config.get("fetch_mode") or "auto"
        if mode not in FETCH_MODES:
            raise DriverError(f"`fetch_mode` must be one of {', '.join(FETCH_MODES)}, got {mode!r}")
        plan, reason = (None, "fetch_mode is stream")
        if mode != "stream":
            plan, reason = plan_bulk(params, source, config.get("partition_on"))
            if plan is None and mode == "bulk":
                raise DriverError(f"`fetch_mode: bulk` cannot read this: {reason}",
                                  hint="use `fetch_mode: auto` or `stream`, or set `partition_on`")
        if plan is not None:
            schema, batches = bulk_batches(ctx, params, plan, batch_size, limit, ctx.memory_limit_bytes)
            ctx.event("mysql.extract.path", path="bulk", key=plan.key, low=plan.low, high=plan.high)
        else:
            columns = probe(params, f"SELECT {source.select_list} {source.from_clause} LIMIT 0") \
                if source.table else None
            sql = source.stream_sql(limit, columns or ())
            schema, batches = stream_batches(ctx, params, sql, batch_size, limit, columns)
            ctx.event("mysql.extract.path", path="stream", reason=reason)
        return pa.RecordBatchReader.from_batches(schema, _reporting(ctx, batches))


def _reporting(ctx: StepContext, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pass batches through, reporting cumulative progress."""
    rows = nbytes = 0
    for batch in batches:
        rows += batch.num_rows
        nbytes += batch.nbytes
        ctx.progress(rows, nbytes)
        yield batch
