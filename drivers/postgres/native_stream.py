"""A PostgreSQL read through the native COPY decoder, or None so the caller reads through ADBC.

`open_native` decides the path: the decoder must be built, a libpq loadable, and every
column of the result of a type the decoder reads (native_plan.py); otherwise the caller's ADBC path
reads the whole query, and the `postgres_reader` event says why. OSIRIS_POSTGRES_READER=adbc
forces ADBC (a way out should the native path ever misbehave somewhere).

A plain table read (a `table`, no `limit`, no partition, no incremental window: `PageSplit`) of at
least MIN_SPLIT_PAGES heap pages is read as two page ranges (`ctid < '(p,0)'` and `>= '(p,0)'`, a
TID range scan since PostgreSQL 14) over two connections that share one snapshot: the first
exports it inside a REPEATABLE READ transaction and the second imports it, so both see the
same committed rows, exactly those one `SELECT` would. The extractor promises no row order (no
ORDER BY; a `query` with one is read on one connection), so batches go on as they come.

Every connection is read by a thread of its own (the pump releases the GIL), into one queue of at
most QUEUE_BATCHES batches: memory stays bounded by the batch size whatever the table's size, and
decoding overlaps with the consumer (the Parquet writer). When the consumer stops early (a
`limit` downstream, a failure, cancellation) the queries are cancelled and the threads joined
before the reader reports closed; each thread closes its own connection, never another thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from osiris.drivers.common.metered import metered
from osiris.drivers.postgres.connect import PgParams, close_quietly, qualified
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.libpq import Connection, ServerError, library_missing_reason
from osiris.drivers.postgres.native_plan import NativePlan, decoder_missing_reason, decoder_module, plan, unsupported
from osiris.drivers.postgres.native_read import connect, copy_batches, describe
from osiris.runtime.driver import DriverError, StepContext

__all__ = ["MIN_SPLIT_PAGES", "PageSplit", "open_native"]

READER_ENV = "OSIRIS_POSTGRES_READER"
MIN_SPLIT_PAGES = 4096
"""32 MiB of heap: below it a second connection costs more start-up than it saves."""
MAX_BATCH_BYTES = 32 << 20
QUEUE_BATCHES = 4
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
    jobs: list[tuple[Connection, str]] = []
    try:
        columns = describe(conn, sql, params)
        native = plan(columns)
        if native is None:
            reason = f"column types the native decoder does not read: {', '.join(unsupported(columns))}"
            ctx.event("postgres_reader", path="adbc", reason=reason)
            close_quietly(conn)
            return None
        jobs = (_page_jobs(conn, params, split) if split else None) or [(conn, sql)]
    except BaseException:
        close_quietly(conn, *(other for other, _ in jobs if other is not conn))
        raise
    ctx.event("postgres_reader", path="native", connections=len(jobs))
    batches = _read(jobs, native, params, batch_rows=batch_rows)
    return pa.RecordBatchReader.from_batches(native.schema, metered(ctx, batches))


def _unavailable() -> str | None:
    if os.environ.get(READER_ENV, "").strip().lower() == "adbc":
        return f"{READER_ENV}=adbc"
    if decoder_module() is None:
        return f"the native decoder is not built ({decoder_missing_reason()})"
    missing = library_missing_reason()
    return f"libpq cannot be loaded ({missing})" if missing else None


def _page_jobs(conn: Connection, params: PgParams, split: PageSplit) -> list[tuple[Connection, str]] | None:
    """Two connections on one exported snapshot, each with half the table's pages; None when the
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
    middle = int(row[1]) // 2
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
    return [(conn, split.sql_for(f" WHERE ctid < '({middle},0)'::tid")),
            (other, split.sql_for(f" WHERE ctid >= '({middle},0)'::tid"))]


class _Feed:
    """The bounded queue between the reader threads and the consumer, and the stop signal."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE_BATCHES)
        self.stop = threading.Event()

    def put(self, item: Any) -> bool:
        """Wait for room; False once the consumer has stopped (the item is dropped)."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _reader(conn: Connection, sql: str, native: NativePlan, params: PgParams, batch_rows: int,
            feed: _Feed) -> None:
    try:
        for batch in copy_batches(conn, sql, native, params, batch_rows=batch_rows, max_bytes=MAX_BATCH_BYTES):
            if not feed.put(batch):
                return
        feed.put(_END)
    except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
        feed.put(error if isinstance(error, DriverError) else
                 classify(error, action="reading rows", label=params.label, secrets=params.secrets))
    finally:
        close_quietly(conn)


def _read(jobs: list[tuple[Connection, str]], native: NativePlan, params: PgParams, *,
          batch_rows: int) -> Iterator[pa.RecordBatch]:
    feed = _Feed()
    cancels = [conn.canceller() for conn, _ in jobs]
    threads = [threading.Thread(target=_reader, args=(conn, sql, native, params, batch_rows, feed),
                                name=f"osiris-pg-native-{i}", daemon=True) for i, (conn, sql) in enumerate(jobs)]
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
        feed.stop.set()
        for thread, cancel in zip(threads, cancels, strict=True):
            if thread.is_alive():
                try:
                    cancel.cancel()  # a PGcancel of its own: safe while the thread uses the connection
                except Exception:  # noqa: BLE001, S110 - the query may have ended meanwhile
                    pass
        while any(thread.is_alive() for thread in threads):
            try:
                feed.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        for thread in threads:
            thread.join()
        for cancel in cancels:
            cancel.free()
