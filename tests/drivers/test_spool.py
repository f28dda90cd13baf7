"""osiris.drivers.common.spool: order kept across memory and disk, errors delivered, files removed."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.common.spool import Spool


def batch(start: int, rows: int = 1000) -> pa.RecordBatch:
    return pa.record_batch({"n": pa.array(range(start, start + rows), pa.int64())})


def test_batches_beyond_the_budget_go_to_disk_and_come_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", memory_bytes=3 * batch(0).nbytes)
    for index in range(10):  # nobody reads yet: 3 stay in memory, 7 are spilled
        spool.put(batch(index * 1000))
    spool.finish()
    assert spool.spilled_batches == 7 and len(list((tmp_path / "spool").iterdir())) == 7
    numbers = [n for b in spool for n in b.column("n").to_pylist()]
    assert numbers == list(range(10_000))
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_producer_thread_and_a_slow_consumer(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", memory_bytes=2 * batch(0).nbytes)

    def produce() -> None:
        for index in range(200):
            spool.put(batch(index * 1000))
        spool.finish()

    thread = threading.Thread(target=produce)
    thread.start()
    seen = [b.column("n")[0].as_py() for b in spool]
    thread.join()
    assert seen == [index * 1000 for index in range(200)]


def test_the_producers_error_arrives_after_the_batches_before_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", memory_bytes=0)
    spool.put(batch(0))
    spool.put(batch(1000))
    spool.finish(RuntimeError("source failed"))
    got = []
    with pytest.raises(RuntimeError, match="source failed"):
        for b in spool:
            got.append(b.num_rows)
    assert got == [1000, 1000]


def test_discard_removes_spilled_files_and_ignores_later_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", memory_bytes=0)
    for index in range(4):
        spool.put(batch(index))
    assert len(list((tmp_path / "s").iterdir())) == 3  # the first batch is always held in memory
    spool.discard()
    spool.put(batch(99))
    assert list((tmp_path / "s").iterdir()) == []
