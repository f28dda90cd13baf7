"""The query read path: the query as written, in one connectorx `arrow_stream`, spooled.

A query without `partition_on` cannot be split into key ranges without changing what it
means (its ORDER BY, LIMIT or aggregates), so the bulk path cannot read it; pymysql can,
at about a tenth of connectorx's speed. connectorx's stream, though, reads at its own pace
whatever its consumer does, so a `Spool` drains it in a thread and spills the backlog to the
step's temp directory: memory stays within the step's budget when downstream is slower.
When the consumer stops early (a `limit`, a failure downstream, Ctrl-C) the query is killed
on the server, since connectorx would otherwise read the result to its end. It is one
query, so the read is one consistent snapshot, like the stream path's.

Used when every column travels exactly through connectorx (no TIME, BIT, untyped NULL or
too-wide DECIMAL column: see `types.bulk_select_expr`); otherwise pymysql reads the query.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator, Sequence

import pyarrow as pa

from osiris.drivers.common.spool import Spool
from osiris.drivers.mysql.connect import SESSION_SETUP, ConnParams, classify, connectorx, cx_url, kill_queries
from osiris.drivers.mysql.types import Column, cx_decimal_safe, fix_bulk_array, schema_of
from osiris.runtime.driver import DriverError, StepContext

__all__ = ["cx_stream_batches", "cx_stream_unfit"]


def cx_stream_unfit(columns: Sequence[Column]) -> str:
    """Why connectorx cannot carry these columns exactly, or "" when it can."""
    for column in columns:
        if column.kind in ("null", "time", "bit"):
            return f"column {column.name!r} is {column.kind.upper()}"
        if column.kind == "decimal" and not cx_decimal_safe(column):
            return f"column {column.name!r} is a DECIMAL wider than connectorx carries exactly"
    if len({c.name for c in columns}) != len(columns):
        return "the query returns duplicate column names"
    return ""


class _Drain(threading.Thread):
    """Reads the connectorx stream as fast as it comes into the spool."""

    def __init__(self, params: ConnParams, sql: str, columns: Sequence[Column], batch_size: int,
                 limit: int | None, spool: Spool) -> None:
        super().__init__(name="osiris-mysql-cxstream", daemon=True)
        self.params, self.sql, self.columns = params, sql, columns
        self.batch_size, self.limit, self.spool = batch_size, limit, spool
        self.schema = schema_of(columns)  # built once: every batch is conformed to it
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            reader = connectorx().read_sql(cx_url(self.params), self.sql, return_type="arrow_stream",
                                 batch_size=self.batch_size, pre_execution_query=list(SESSION_SETUP))
            rows = 0
            for batch in reader:
                if self.stop.is_set():
                    return
                if batch.num_rows:
                    self.spool.put(self._conform(batch))
                    rows += batch.num_rows
                if self.limit is not None and rows >= self.limit:
                    break
        except BaseException as error:  # noqa: BLE001 - connectorx panics are BaseException
            self.spool.finish(classify(error, self.params, action="read the query through connectorx"))
            return
        self.spool.finish()

    def _conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_columns != len(self.columns):
            raise DriverError(f"connectorx returned {batch.num_columns} columns, the query has "
                              f"{len(self.columns)}", hint="set `fetch_mode: stream`")
        arrays = [fix_bulk_array(c, batch.column(i)) for i, c in enumerate(self.columns)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _kill_query(params: ConnParams, tag: str) -> None:
    """Stop the tagged query on the server (connectorx would read it to the end)."""
    kill_queries(params, "INFO LIKE %s", (f"%{tag}%",))


def cx_stream_batches(
    ctx: StepContext, params: ConnParams, query: str, columns: Sequence[Column], batch_size: int,
    limit: int | None, memory_budget: int,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Start reading `query` in the background; return its schema and a batch generator.

    The drain stops once it has `limit` rows; the caller slices the stream to it exactly (`metered`).
    """
    connectorx()  # loaded here, not in the drain thread: a missing library fails the step with its extra named
    tag = f"osiris-read-{secrets.token_hex(6)}"
    spool = Spool(ctx.temp_dir / tag, memory_bytes=min(max(memory_budget // 4, 8 << 20), 64 << 20))
    drain = _Drain(params, f"/* {tag} */ {query}", columns, batch_size, limit, spool)
    schema = drain.schema

    def generate() -> Iterator[pa.RecordBatch]:
        drain.start()
        try:
            yield from spool
        finally:
            drain.stop.set()
            spool.discard()
            if drain.is_alive():
                _kill_query(params, tag)
                drain.join(timeout=30)
            if spool.spilled_batches:
                ctx.event("mysql.extract.spooled", batches=spool.spilled_batches, bytes=spool.spilled_bytes)
            with contextlib.suppress(OSError):
                (ctx.temp_dir / tag).rmdir()

    return schema, generate()
