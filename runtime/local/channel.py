"""A bounded, single-consumer channel of record batches: one data edge between two steps.

The producer blocks while the channel holds `capacity` batches, so memory per edge is bounded
and producer and consumer overlap. Besides batches a channel carries the stream's schema
(set with the first batch or at the end), its end, an upstream failure, or consumer
abandonment (a failed consumer must not block its producer forever). Every wait wakes up
on the run's cancel event.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

import pyarrow as pa

from osiris.runtime.driver import Cancelled

__all__ = ["Channel", "UpstreamFailed"]

_POLL_S = 0.2


class UpstreamFailed(Exception):
    """The step feeding this channel failed, was skipped or cancelled; `origin` failed first."""

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.origin = origin


class Channel:
    def __init__(self, name: str, capacity: int, cancel: threading.Event) -> None:
        self.name = name
        self.capacity = max(1, capacity)
        self._cancel = cancel
        self._cond = threading.Condition()
        self._items: deque[pa.RecordBatch] = deque()
        self._schema: pa.Schema | None = None
        self._ended = False
        self._failed: str | None = None
        self._abandoned = False
        self.taken = 0
        """Batches the consumer has taken (a retry is only safe while this is 0)."""

    # -- producer side -------------------------------------------------------------------
    def put(self, batch: pa.RecordBatch) -> bool:
        """Queue a batch, blocking while full; False when the consumer is gone."""
        with self._cond:
            if self._schema is None:
                self._schema = batch.schema
                self._cond.notify_all()
            while len(self._items) >= self.capacity and not self._abandoned:
                self._wait()
            if self._abandoned:
                return False
            self._items.append(batch)
            self._cond.notify_all()
            return True

    def close(self, schema: pa.Schema) -> None:
        """End of stream (`schema` is used when no batch was ever put)."""
        with self._cond:
            if self._schema is None:
                self._schema = schema
            self._ended = True
            self._cond.notify_all()

    def fail(self, origin: str) -> None:
        with self._cond:
            if not self._ended:
                self._failed = origin
            self._cond.notify_all()

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    @property
    def failed(self) -> str | None:
        """The origin of an upstream failure, if the producer failed before the end."""
        return self._failed

    # -- consumer side -------------------------------------------------------------------
    def abandon(self) -> None:
        """The consumer stopped: drop what is queued and refuse further batches."""
        with self._cond:
            self._abandoned = True
            self._items.clear()
            self._cond.notify_all()

    def wait_schema(self) -> pa.Schema:
        """Block until the stream's schema is known; raises UpstreamFailed or Cancelled."""
        with self._cond:
            while self._schema is None:
                if self._failed is not None:
                    raise UpstreamFailed(self._failed)
                self._wait()
            return self._schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yield batches until the end; raises UpstreamFailed if the producer fails midway."""
        while True:
            with self._cond:
                while not self._items:
                    if self._failed is not None:
                        raise UpstreamFailed(self._failed)
                    if self._ended:
                        return
                    self._wait()
                batch = self._items.popleft()
                self.taken += 1
                self._cond.notify_all()
            yield batch

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.wait_schema(), self.batches())

    def _wait(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("the run was cancelled")
        self._cond.wait(_POLL_S)
