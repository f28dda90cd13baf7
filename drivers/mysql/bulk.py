"""The bulk read path: connectorx (Arrow-native, Rust) over integer key ranges.

connectorx reads a result into Arrow several times faster than any Python client, but it
materialises each result whole (its `arrow_stream` mode buffers the entire result too when
the consumer is slower). So a read is split into ranges of an integer key
(`key >= lo AND key < hi`), each small enough to hold, and a background thread fetches the
next range while the current one flows downstream. At most three ranges are alive at once:
one being consumed, one waiting in the queue, one being fetched.

Range width adapts to the key's density: it starts from the table's row estimate and is
re-aimed after each range at `target_rows` (derived from the step's memory budget and the
observed bytes per row), growing at most 4x per step so a sparse stretch cannot balloon the
next range. Ranges run in separate connections, so the read is not one snapshot; use the
stream path (`fetch_mode: stream`) when a consistent snapshot of a changing table matters.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.connect import SESSION_SETUP, ConnParams, classify, connect, connectorx, cx_url, quote_ident
from osiris.drivers.mysql.types import Column, bulk_select_expr, fix_bulk_array, schema_of
from osiris.runtime.driver import DriverError

__all__ = ["BulkPlan", "bulk_batches"]

_DONE = object()
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc (musl, macOS): nothing to trim
    _LIBC = None


@dataclass(frozen=True)
class BulkPlan:
    """What to read: `SELECT <columns> <source> WHERE <key> in range`."""

    source: str
    """`FROM ...` clause: a quoted table or a parenthesised query with an alias."""
    columns: tuple[Column, ...]
    key: str
    """The quoted key expression usable in WHERE."""
    low: int
    high: int
    estimated_rows: int | None
    null_keys: bool
    """Rows whose key is NULL exist (they are read as a last range)."""


def range_sql(plan: BulkPlan, where: str, limit: int | None) -> str:
    select = ", ".join(bulk_select_expr(c, quote_ident(c.name)) for c in plan.columns)
    sql = f"SELECT {select} {plan.source} WHERE {where}"
    return sql + (f" LIMIT {limit}" if limit is not None else "")


class _Fetcher(threading.Thread):
    """Fetches ranges in order into a one-slot queue until done, stopped or failed."""

    def __init__(self, plan: BulkPlan, params: ConnParams, target_rows: int, target_bytes: int,
                 limit: int | None) -> None:
        super().__init__(name="osiris-mysql-bulk", daemon=True)
        self.plan, self.params, self.limit = plan, params, limit
        self.target_rows, self.target_bytes = target_rows, target_bytes
        self.out: queue.Queue[object] = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.fetched_rows = 0
        self.probe: pymysql.connections.Connection | None = None

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, where: str) -> pa.Table | None:
        remaining = None if self.limit is None else self.limit - self.fetched_rows
        if remaining is not None and remaining <= 0:
            return None
        self._check_source()
        table = connectorx().read_sql(cx_url(self.params), range_sql(self.plan, where, remaining),
                            return_type="arrow", pre_execution_query=list(SESSION_SETUP))
        self.fetched_rows += table.num_rows
        return table

    def _check_source(self) -> None:
        """Fail fast (and cleanly) when the server or the source went away between ranges.

        connectorx retries a failed connect for 30 s before it reports anything; a LIMIT 0
        probe over a kept pymysql connection costs one round trip per range.
        """
        if self.probe is None:
            self.probe = connect(self.params)
        with self.probe.cursor() as cur:
            cur.execute(f"SELECT 1 {self.plan.source} LIMIT 0")
            cur.fetchall()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # noqa: BLE001 - connectorx panics are BaseException
            self._put(error)
            return
        finally:
            if self.probe is not None:
                with contextlib.suppress(Exception):
                    self.probe.close()
        self._put(_DONE)

    def _run(self) -> None:
        plan = self.plan
        span = plan.high - plan.low + 1
        density = (plan.estimated_rows / span) if plan.estimated_rows else 1.0
        width = max(1, int(self.target_rows / max(density, 1e-9)))
        max_width = width * 64
        low = plan.low
        while low <= plan.high and not self.stop.is_set():
            upper = min(low + width, plan.high + 1)
            table = self._fetch(f"{plan.key} >= {low} AND {plan.key} < {upper}")
            if table is None:
                return
            if table.num_rows:
                self.target_rows = self._aim(table)
                wanted = (upper - low) * self.target_rows / table.num_rows
                width = int(min(max(wanted, width / 8), width * 4, max_width))
            else:
                width = min(width * 4, max_width)
            width = max(width, 1)
            low = upper
            if not self._put(table):
                return
        if plan.null_keys and not self.stop.is_set():
            table = self._fetch(f"{plan.key} IS NULL")
            if table is not None:
                self._put(table)

    def _aim(self, table: pa.Table) -> int:
        """Rows per range that keep one range near the byte budget."""
        per_row = max(1, table.nbytes // max(table.num_rows, 1))
        floor = min(self.target_rows, 10_000)
        return int(min(max(self.target_bytes // per_row, floor), self.target_rows * 4))


def _release_memory() -> None:
    """Hand freed range buffers back to the OS.

    connectorx allocates each range with the C allocator from its own threads; glibc keeps
    such freed blocks in per-thread arenas, so without a trim RSS creeps up range by range.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _conform(table: pa.Table, columns: Sequence[Column], schema: pa.Schema) -> pa.Table:
    arrays = [fix_bulk_array(c, table.column(i)) for i, c in enumerate(columns)]
    return pa.Table.from_arrays(arrays, schema=schema)


def bulk_error(error: BaseException, params: ConnParams) -> DriverError:
    return classify(error, params, action="read the range through connectorx")


def bulk_batches(
    params: ConnParams,
    plan: BulkPlan,
    batch_size: int,
    limit: int | None,
    memory_budget: int,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Start fetching ranges in the background; return the schema and a batch generator.

    `limit` caps what the ranges fetch; the caller slices the stream to it exactly (`metered`).
    """
    schema = schema_of(plan.columns)
    connectorx()  # loaded here, not in the fetcher: a missing library fails the step with its extra named
    # Three ranges may be alive at once (plus connectorx's own buffers): 1/16 of the budget,
    # at most 32 MiB, keeps the whole read well inside the budget (docs/performance.md, hot spot 5).
    target_bytes = min(max(memory_budget // 16, 8 << 20), 32 << 20)
    fetcher = _Fetcher(plan, params, target_rows=batch_size * 4, target_bytes=target_bytes, limit=limit)

    def generate() -> Iterator[pa.RecordBatch]:
        fetcher.start()
        try:
            while True:
                item = fetcher.out.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise bulk_error(item, params) from None
                table = _conform(item, plan.columns, schema)  # type: ignore[arg-type]
                del item
                yield from table.to_batches(max_chunksize=batch_size)
                del table
                _release_memory()
        finally:
            fetcher.stop.set()
            fetcher.join(timeout=60)

    return schema, generate()
