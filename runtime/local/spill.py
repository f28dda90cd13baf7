"""Spill files: an upstream output drained to Arrow IPC on disk, re-scannable and memory-mapped.

A transform may read its inputs in any order or several times, so it cannot consume live
streams without risking a deadlock (it would wait on input B while input A's producer waits
for room in a full channel). Instead a drainer thread per spilled output writes the stream
to an IPC file as it arrives (the producer never waits on the transform), and the transform
starts once every input is complete, with `SpillTable`s as its `InputTable`s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from osiris.runtime.driver import Cancelled
from osiris.runtime.local.channel import Channel, UpstreamFailed

__all__ = ["SpillTable", "Spiller", "spill"]


@dataclass(frozen=True)
class SpillTable:
    """`runtime.driver.InputTable` over one IPC file; `name` is the producing step's id."""

    name: str
    path: Path
    schema: pa.Schema
    num_rows: int

    def reader(self) -> pa.RecordBatchReader:
        """A fresh scan over the memory-mapped file."""
        source = pa.memory_map(str(self.path))
        file_reader = ipc.open_file(source)

        def batches():  # noqa: ANN202
            try:
                for index in range(file_reader.num_record_batches):
                    yield file_reader.get_batch(index)
            finally:
                source.close()

        return pa.RecordBatchReader.from_batches(file_reader.schema, batches())

    def dataset(self) -> Any:
        import pyarrow.dataset as ds  # only transforms that scan a dataset pay its import (~80 ms)

        return ds.dataset(str(self.path), format="ipc")


def spill(name: str, path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> SpillTable:
    """Write `batches` to the IPC file `path` and return it as the SpillTable named `name`."""
    rows = 0
    with ipc.new_file(str(path), schema) as sink:
        for batch in batches:
            sink.write_batch(batch)
            rows += batch.num_rows
    return SpillTable(name, path, schema, rows)


class Spiller:
    """Drains one channel into `path` on its own `thread` (the executor starts it); `wait()` returns the SpillTable."""

    def __init__(self, channel: Channel, step_id: str, path: Path, cancel: threading.Event) -> None:
        self.channel = channel
        self.step_id = step_id
        self.path = path
        self._cancel = cancel
        self._done = threading.Event()
        self._table: SpillTable | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"spill:{step_id}", daemon=True)

    def _run(self) -> None:
        try:
            schema = self.channel.wait_schema()
            self._table = spill(self.step_id, self.path, schema, self.channel.batches())
        except BaseException as error:  # noqa: BLE001 - handed to the waiting consumer
            self._error = error
            self.channel.abandon()
        finally:
            self._done.set()

    def wait(self) -> SpillTable:
        """Block until the upstream output is complete; raises UpstreamFailed or Cancelled."""
        while not self._done.wait(0.2):
            if self._cancel.is_set():
                raise Cancelled("the run was cancelled")
        if self._error is not None:
            if isinstance(self._error, (UpstreamFailed, Cancelled)):
                raise self._error
            raise OSError(f"cannot spill the output of {self.step_id}: {self._error}") from None
        assert self._table is not None
        return self._table
