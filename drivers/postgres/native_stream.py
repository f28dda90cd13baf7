"""A PostgreSQL read through the native COPY decoder, or None so the caller reads through ADBC.

`open_native` decides the path: the decoder must be built, a libpq loadable, and every
column of the result of a type the decoder reads (native_plan.py); otherwise the caller's ADBC path
reads the whole query, and the `postgres_reader` event says why. OSIRIS_POSTGRES_READER=adbc
forces ADBC (a way out should the native path ever misbehave somewhere).

A plain table read (a `table`, no `limit`, no partition, no incremental window: `PageSplit`) of at
least MIN_SPLIT_PAGES heap pages is read over two connections that share one snapshot: the first
exports it inside a REPEATABLE READ transaction and the second imports it, so both see the
same committed rows, exactly those one `SELECT` would. The table's pages are cut into ranges
(`ctid >= '(a,0)' AND ctid < '(b,0)'`, a TID range scan since PostgreSQL 14; the last range has
no upper bound) that each connection takes one after the other as it finishes the previous one,
large ranges first and smaller ones towards the end (`PageRanges`), so both finish together (with
two fixed halves one often finished 0.1-0.2 s before the other; on 2 cores, where the Parquet
encode sets the pace, that did not show in the wall time, but it does wherever the read does).
The extractor promises no row order (no ORDER BY; a `query` with one is read on one connection),
so batches go on as they come.

Every connection is read by a thread of its own (the pump releases the GIL), into one queue of at
most QUEUE_BATCHES batches: memory stays bounded by the batch size whatever the table's size, and
decoding overlaps with the consumer (the Parquet writer). The reader threads run a few nice
levels below the consumer (drivers/common/priority.py), so the consumer never waits behind them
for a core and they fill every gap it leaves. One slot is enough: each thread holds
the batch it decodes next, and a deeper queue only let the readers run further ahead of a
slower consumer, into fresh memory the buffer cache could not serve (4 slots: 3-7% slower and
~25 MB more RSS from 1M to 10M rows, docs/performance.md). When the consumer stops early (a
`limit` downstream, a failure, cancellation) the queries are cancelled and the threads joined
before the reader reports closed; each thread closes its own connection, never another thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from osiris.drivers.common.metered import metered
from osiris.drivers.common.priority import lower_this_thread
from osiris.drivers.postgres.connect import PgParams, close_quietly, qualified
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.libpq import Connection, ServerError, library_missing_reason
from osiris.drivers.postgres.native_plan import NativePlan, decoder_missing_reason, decoder_module, plan, unsupported
from osiris.drivers.postgres.native_read import connect, copy_batches, describe
from osiris.runtime.driver import DriverError, StepContext

__all__ = ["MIN_SPLIT_PAGES", "PageRanges", "PageSplit", "open_native"]

READER_ENV = "OSIRIS_POSTGRES_READER"
MIN_SPLIT_PAGES = 4096
"""32 MiB of heap: below it a second connection costs more start-up than it saves."""
MIN_RANGE_PAGES = 1024
"""8 MiB of heap, the smallest range a connection takes: a query's start costs ~1 ms."""
MAX_BATCH_BYTES = 32 << 20
QUEUE_BATCHES = 1
_END = object()


@dataclass(frozen=True)
class PageSplit:
    """A plain table read that may be cut into heap page ranges: the table, and the SQL of a range
    given its WHERE clause (the step's own column list, so the output is the same)."""

    schema: str
    table: str
    sql_for: Callable[[str], str]


def open_native(params: PgParams, sql: str, ctx: StepContext, *, batch_rows: int,
                split: PageSplit | None = None) -> pa.RecordBatchReader | None:
    """A reader of `sql` through the native decoder, or None when ADBC must read it (see module doc)."""
    why_not = _unavailable()
    if why_not:
        ctx.event("postgres_reader", path="adbc", reason=why_not)
        return None
    conn = connect(params)
    jobs: list[Connection] = []
    try:
        columns = describe(conn, sql, params)
        native = plan(columns)
        if native is None:
            reason = f"column types the native decoder does not read: {', '.join(unsupported(columns))}"
            ctx.event("postgres_reader", path="adbc", reason=reason)
            close_quietly(conn)
            return None
        shared = _page_jobs(conn, params, split) if split else None
        jobs, queries = shared or ([conn], _Queries([sql]))
    except BaseException:
        close_quietly(conn, *(other for other in jobs if other is not conn))
        raise
    ctx.event("postgres_reader", path="native", connections=len(jobs))
    batches = _read(jobs, queries, native, params, batch_rows=batch_rows)
    return pa.RecordBatchReader.from_batches(native.schema, metered(ctx, batches))


def _unavailable() -> str | None:
    if os.environ.get(READER_ENV, "").strip().lower() == "adbc":
        return f"{READER_ENV}=adbc"
    if decoder_module() is None:
        return f"the native decoder is not built ({decoder_missing_reason()})"
    missing = library_missing_reason()
    return f"libpq cannot be loaded ({missing})" if missing else None


def _page_jobs(conn: Connection, params: PgParams, split: PageSplit) -> tuple[list[Connection], _Queries] | None:
    """Two connections on one exported snapshot and the page ranges they share; None when the
    table is small, not a plain table, the server older than 14, or the snapshot cannot be shared."""
    try:
        if conn.server_version < 140000:
            return None
        regclass = f"to_regclass({conn.literal(qualified(split.schema, split.table))})"
        rows = conn.execute(f"SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::int8 "
                            f"FROM pg_class c WHERE c.oid = {regclass}")
    except ServerError as error:
        raise classify(error, action="sizing the table", label=params.label, secrets=params.secrets) from None
    row = rows[0] if rows else None
    if row is None or row[0] not in ("r", "m") or int(row[1] or 0) < MIN_SPLIT_PAGES:
        return None
    pages = int(row[1])
    other = None
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()")[0][0] or ""
        other = connect(params)
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        other.execute(f"SET TRANSACTION SNAPSHOT {other.literal(snapshot)}")
    except Exception:  # noqa: BLE001 - a standby, a pooler, a privilege: read on one connection instead
        close_quietly(other)
        try:
            conn.execute("ROLLBACK")
        except Exception as error:  # noqa: BLE001 - the first connection is unusable too
            raise classify(error, action="reading rows", label=params.label, secrets=params.secrets) from None
        return None
    ranges = PageRanges(pages, readers=2)
    return [conn, other], _Queries(split.sql_for(where) for where in ranges.clauses())


class PageRanges:
    """A table's heap pages [0, pages) cut for `readers` connections taking ranges as they finish:
    each range is a `readers`-th of half the pages not yet given out (guided scheduling), at least
    MIN_RANGE_PAGES, so the first ranges are long (few queries) and the last ones short (the
    readers finish together). The last range is open-ended: rows the size missed are still read."""

    def __init__(self, pages: int, readers: int) -> None:
        self.pages, self.readers = pages, readers

    def bounds(self) -> Iterator[tuple[int, int | None]]:
        """(first page, end page or None for the open-ended last range), in order."""
        start = 0
        while True:
            length = max(MIN_RANGE_PAGES, -(-(self.pages - start) // (2 * self.readers)))
            if start + length >= self.pages:
                yield start, None
                return
            yield start, start + length
            start += length

    def clauses(self) -> Iterator[str]:
        """The WHERE clause of each range (page numbers only: no value of the step's reaches it)."""
        for start, end in self.bounds():
            lower = f"ctid >= '({start},0)'::tid" if start else ""
            upper = f"ctid < '({end},0)'::tid" if end is not None else ""
            yield " WHERE " + " AND ".join(part for part in (lower, upper) if part) if lower or upper else ""


class _Queries:
    """The queries the reader threads share, each handed out once; none once the read stopped."""

    def __init__(self, queries: Iterable[str]) -> None:
        self._queries = iter(queries)
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def __iter__(self) -> Iterator[str]:
        while not self.stop.is_set():
            with self._lock:
                sql = next(self._queries, None)
            if sql is None:
                return
            yield sql


class _Feed:
    """The bounded queue between the reader threads and the consumer, and the stop signal."""

    def __init__(self, stop: threading.Event) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE_BATCHES)
        self.stop = stop

    def put(self, item: Any) -> bool:
        """Wait for room; False once the consumer has stopped (the item is dropped)."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _reader(conn: Connection, queries: _Queries, native: NativePlan, params: PgParams, batch_rows: int,
            feed: _Feed) -> None:
    lower_this_thread()  # the consumer (the encode) first: see drivers/common/priority.py
    try:
        for batch in copy_batches(conn, queries, native, params, batch_rows=batch_rows, max_bytes=MAX_BATCH_BYTES):
            if not feed.put(batch):
                return
        feed.put(_END)
    except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
        feed.put(error if isinstance(error, DriverError) else
                 classify(error, action="reading rows", label=params.label, secrets=params.secrets))
    finally:
        close_quietly(conn)


def _read(jobs: list[Connection], queries: _Queries, native: NativePlan, params: PgParams, *,
          batch_rows: int) -> Iterator[pa.RecordBatch]:
    feed = _Feed(queries.stop)
    cancels = [conn.canceller() for conn in jobs]
    threads = [threading.Thread(target=_reader, args=(conn, queries, native, params, batch_rows, feed),
                                name=f"osiris-pg-native-{i}", daemon=True) for i, conn in enumerate(jobs)]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < len(threads):
            item = feed.queue.get()
            if item is _END:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        feed.stop.set()  # no thread starts another range from here on
        _cancel_running(threads, cancels)
        while any(thread.is_alive() for thread in threads):
            try:
                feed.queue.get(timeout=0.05)
            except queue.Empty:  # again: a range taken just before the stop may have started after the cancel
                _cancel_running(threads, cancels)
        for thread in threads:
            thread.join()
        for cancel in cancels:
            cancel.free()


def _cancel_running(threads: list[threading.Thread], cancels: list[Any]) -> None:
    for thread, cancel in zip(threads, cancels, strict=True):
        if thread.is_alive():
            try:
                cancel.cancel()  # a PGcancel of its own: safe while the thread uses the connection
            except Exception:  # noqa: BLE001, S110 - the query may have ended meanwhile
                pass
