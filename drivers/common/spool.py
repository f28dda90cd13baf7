"""A FIFO of record batches between a fast producer thread and a slower consumer.

Some sources cannot be paused: connectorx's `arrow_stream` keeps reading the result into
memory whatever its consumer does. A `Spool` drains such a source promptly and keeps order:
batches stay in memory up to `memory_bytes`, and beyond that each one goes to an Arrow IPC
file in the step's temp directory, read back (and deleted) when its turn comes. Memory is
then bounded by the budget, the disk holds the backlog, and nothing is dropped or reordered.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

__all__ = ["Spool"]

_END = object()


class Spool:
    """Ordered hand-off of batches: `put` from the producer, iterate in the consumer."""

    def __init__(self, directory: Path, memory_bytes: int) -> None:
        self.directory = directory
        self.memory_bytes = memory_bytes
        self._items: collections.deque[object] = collections.deque()
        self._held = 0
        self._ready = threading.Condition()
        self.spilled_batches = 0
        self.spilled_bytes = 0
        self.closed = False

    def put(self, batch: pa.RecordBatch) -> None:
        """Queue `batch`: in memory while under budget, else spilled to its own file."""
        size = batch.nbytes
        with self._ready:
            if self.closed:
                return
            in_memory = self._held + size <= self.memory_bytes or not self._items
            if in_memory:
                self._held += size
                self._items.append(batch)
                self._ready.notify()
                return
            self.spilled_batches += 1
            path = self.directory / f"spool-{self.spilled_batches:06d}.arrow"
        self.directory.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_batch(batch)
        with self._ready:
            self.spilled_bytes += size
            self._items.append(path)
            self._ready.notify()

    def finish(self, error: BaseException | None = None) -> None:
        """No more batches; the consumer raises `error` after the queued ones, if given."""
        with self._ready:
            self._items.append(error if error is not None else _END)
            self._ready.notify()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            with self._ready:
                while not self._items:
                    self._ready.wait()
                item = self._items.popleft()
                if isinstance(item, pa.RecordBatch):
                    self._held -= item.nbytes
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Path):
                with pa.OSFile(str(item), "rb") as source:  # read into memory, not mapped
                    batch = pa.ipc.open_file(source).get_batch(0)
                item.unlink()
                yield batch
                continue
            yield item  # type: ignore[misc]

    def discard(self) -> None:
        """Drop whatever is queued and delete its files (the consumer stopped early)."""
        with self._ready:
            items, self._items = list(self._items), collections.deque()
            self._held = 0
            self.closed = True
        for item in items:
            if isinstance(item, Path):
                with contextlib.suppress(FileNotFoundError):
                    item.unlink()
