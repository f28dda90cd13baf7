"""mysql.extractor: a table or a query as a stream of Arrow record batches.

Four read paths give the same schema and values (see `drivers.mysql.types`):

- native: the table or query as one prepared statement, its binary-protocol rows decoded in C
  (`native.py`, `myrows_core.c`); the fastest, one snapshot, memory bounded by two batches;
- bulk: connectorx over integer key ranges with a prefetch thread (`bulk.py`), several
  times faster than any Python client, memory bounded by the range size;
- cxstream: a query as written, in one connectorx stream spooled to the step's temp space
  when downstream is slower (`cxstream.py`), for queries without `partition_on`;
- stream: an unbuffered pymysql cursor (`stream.py`), for any SELECT, one batch in memory.

`fetch_mode: auto` (the default) takes native when the decoder is built and carries every
column (all but TIME, BIT and decimals over 38 digits). Otherwise it takes bulk when there is an
integer key (`partition_on`, or a table's primary key) and the result has no untyped NULL
columns; for a query without one, cxstream when connectorx carries every column exactly; else
stream. auto also takes stream on a link without TLS to another machine, where connectorx
would give the password away (`connect.cx_refused`). `fetch_mode: native` and `bulk` fail
where their path cannot read; `stream` always takes the pymysql cursor.
"""

from __future__ import annotations

import pyarrow as pa

from osiris.drivers.common import metered
from osiris.drivers.mysql.bulk import bulk_batches
from osiris.drivers.mysql.connect import CX_REFUSED_HINT, ConnParams, conn_params, cx_refused
from osiris.drivers.mysql.cxstream import cx_stream_batches, cx_stream_unfit
from osiris.drivers.mysql.native import native_batches, open_native
from osiris.drivers.mysql.partitions import partitioned_source, plan_partitions
from osiris.drivers.mysql.plan import Source, plan_bulk
from osiris.drivers.mysql.state import incremental_source
from osiris.drivers.mysql.stream import probe, stream_batches
from osiris.drivers.mysql.tools import MySQLConnectionTools
from osiris.drivers.mysql.types import Column
from osiris.runtime.driver import DriverError, Partition, PartitionHints, StepContext

__all__ = ["MySQLExtractor"]

FETCH_MODES = ("auto", "native", "bulk", "stream")


def _int_option(config: dict, key: str, default: int | None) -> int | None:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DriverError(f"`{key}` must be a positive integer, got {value!r}")
    return value


class MySQLExtractor(MySQLConnectionTools):
    """Extractor + PartitionedExtractor + Discoverer + HealthCheck for MySQL and MariaDB."""

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        config = dict(ctx.config)
        return plan_partitions(conn_params(ctx.connection, config), config, hints)

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        config = dict(ctx.config)
        params = conn_params(ctx.connection, config)
        source = Source.from_config(config)
        partition = getattr(ctx, "partition", None)
        if partition is not None:
            source = partitioned_source(source, partition.spec)
        bound = getattr(ctx, "incremental", None)
        if bound is not None:
            source = incremental_source(source, bound)
        batch_size = _int_option(config, "batch_size", ctx.batch_rows or 65536) or 65536
        limit = _int_option(config, "limit", None)
        mode = config.get("fetch_mode") or "auto"
        if mode not in FETCH_MODES:
            raise DriverError(f"`fetch_mode` must be one of {', '.join(FETCH_MODES)}, got {mode!r}")
        no_native = ""
        if mode in ("auto", "native"):
            read, no_native = open_native(params, source.stream_sql(limit))
            if read is not None:
                ctx.event("mysql.extract.path", path="native")
                batches = native_batches(read, batch_size)
                return pa.RecordBatchReader.from_batches(read.schema, metered(ctx, batches, limit=limit))
            if mode == "native":
                raise DriverError(f"`fetch_mode: native` cannot read this: {no_native}",
                                  hint="use `fetch_mode: auto`, which reads it another way")
        plan, reason, probed = None, "fetch_mode is stream", None
        no_cx = cx_refused(params) if mode != "stream" else None
        if no_cx and mode == "bulk":
            raise DriverError(f"`fetch_mode: bulk` cannot read this: {no_cx}", hint=CX_REFUSED_HINT)
        if mode != "stream" and not no_cx:
            plan, reason, probed = plan_bulk(params, source, config.get("partition_on"))
            if plan is None and mode == "bulk":
                raise DriverError(f"`fetch_mode: bulk` cannot read this: {reason}",
                                  hint="use `fetch_mode: auto` or `stream`, or set `partition_on`")
        reason = "; ".join(r for r in (no_native, no_cx or reason) if r)
        if plan is not None:
            schema, batches = bulk_batches(params, plan, batch_size, limit, ctx.memory_limit_bytes)
            why = {"reason": no_native} if no_native else {}
            ctx.event("mysql.extract.path", path="bulk", key=plan.key, low=plan.low, high=plan.high, **why)
        else:
            cx_columns, unfit = _query_columns(params, source, probed) \
                if mode == "auto" and source.query and not no_cx else (None, "")
            if cx_columns is not None and not unfit:
                schema, batches = cx_stream_batches(ctx, params, source.query or "", cx_columns, batch_size,
                                                    limit, ctx.memory_limit_bytes)
                ctx.event("mysql.extract.path", path="cxstream", reason=reason)
            else:
                columns = None
                if source.table:  # plan_bulk probed them unless fetch_mode is stream
                    columns = probed if probed is not None else \
                        probe(params, f"SELECT {source.select_list} {source.from_clause} LIMIT 0")
                sql = source.stream_sql(limit, columns or ())
                schema, batches = stream_batches(params, sql, batch_size, limit, columns)
                ctx.event("mysql.extract.path", path="stream", reason=f"{reason}; {unfit}" if unfit else reason)
        return pa.RecordBatchReader.from_batches(schema, metered(ctx, batches, limit=limit))


def _query_columns(params: ConnParams, source: Source,
                   probed: list[Column] | None) -> tuple[list[Column] | None, str]:
    """A query's columns (probed as a derived table unless plan_bulk did) and why connectorx cannot carry them."""
    if probed is not None:
        return probed, cx_stream_unfit(probed)
    try:
        columns = probe(params, f"SELECT * {source.from_clause} LIMIT 0")
    except DriverError as error:  # the stream path runs the query itself and reports the error
        return None, f"the query cannot be probed as a derived table ({error})"
    return columns, cx_stream_unfit(columns)

