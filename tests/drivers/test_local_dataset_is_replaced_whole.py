"""`filesystem.parquet_writer` writes a local dataset directory (partition_by, rotation, a path
ending in /) with the object stores' layout, and replaces it whole.

What is proved: the parts and names match what an object store gets; a rewrite drops the
parts the new data lacks; the complete new directory takes the target's place in one rename
(an exchange where the kernel has one, else aside-then-in); a failed run leaves the target as it was and no
staging; a link planted inside the target is never written through; `overwrite: false`
refuses an existing dataset; a run killed outright leaves a staging directory that the next
write sweeps; the incremental state is written beside the dataset.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.driver import DriverError
from osiris.runtime.incremental import StateRecord
from osiris.runtime.testing import RecordingContext

REPO = Path(__file__).resolve().parents[2]


def _table(rows: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + rows), pa.int64()),
                     "country": pa.array(["cz", "de"] * (rows // 2), pa.string())})


def _write(work: Path, table: pa.Table | Iterator[pa.RecordBatch], path: str = "out/orders/",
           **config: object) -> RecordingContext:
    ctx = RecordingContext(config={"path": path, **config}, work_dir=work, mode="write")
    reader = table.to_reader(max_chunksize=2) if isinstance(table, pa.Table) else \
        pa.RecordBatchReader.from_batches(_table(2).schema, table)
    ParquetWriter().write(ctx, reader)
    return ctx


def _files(work: Path) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() or p.is_symlink())


def _ids(work: Path, path: str = "out/orders/") -> list[int]:
    ctx = RecordingContext(config={"path": path}, work_dir=work)
    return sorted(ParquetExtractor().extract(ctx).read_all().column("id").to_pylist())


def test_parts_and_names_are_the_object_store_layout(tmp_path: Path) -> None:
    _write(tmp_path, _table(12), partition_by=["country"], max_rows_per_file=4)
    assert _files(tmp_path) == ["out/orders/country=cz/part-00000.parquet", "out/orders/country=cz/part-00001.parquet",
                                "out/orders/country=de/part-00000.parquet", "out/orders/country=de/part-00001.parquet"]
    assert pq.read_table(tmp_path / "out/orders/country=cz/part-00000.parquet").column_names == ["id"]
    assert _ids(tmp_path) == list(range(12))
    _write(tmp_path, _table(10), path="out/rotated/", max_rows_per_file=3)
    assert [f for f in _files(tmp_path) if "rotated" in f] == [f"out/rotated/part-0000{i}.parquet" for i in range(4)]


def test_a_rewrite_replaces_the_dataset_and_drops_parts_the_new_one_lacks(tmp_path: Path) -> None:
    _write(tmp_path, _table(12), partition_by=["country"], max_rows_per_file=2)
    _write(tmp_path, _table(2, start=100), partition_by=["country"])
    assert _files(tmp_path) == ["out/orders/country=cz/part-00000.parquet", "out/orders/country=de/part-00000.parquet"]
    assert _ids(tmp_path) == [100, 101]


@pytest.mark.parametrize("exchange_available", [True, False], ids=["renameat2-exchange", "rename-aside"])
def test_the_new_directory_takes_the_targets_place_in_one_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 exchange_available: bool) -> None:
    from osiris.runtime import publish

    _write(tmp_path, _table(8), partition_by=["country"], max_rows_per_file=2)
    swaps: list[tuple[str, list[str]]] = []
    real = publish.exchange

    def recording(first: Path, second: Path) -> bool:
        staged = sorted(str(p.relative_to(first)) for p in first.rglob("*.parquet"))
        swaps.append((second.name, staged))
        return real(first, second) if exchange_available else False

    monkeypatch.setattr(publish, "exchange", recording)
    _write(tmp_path, _table(2, start=100), partition_by=["country"])
    assert swaps == [("orders", ["country=cz/part-00000.parquet", "country=de/part-00000.parquet"])], \
        "the complete new dataset, staged beside the target, swapped in once"
    assert _ids(tmp_path) == [100, 101]
    assert sorted(os.listdir(tmp_path / "out")) == ["orders"]


def test_a_failed_run_leaves_the_target_as_it_was_and_no_staging(tmp_path: Path) -> None:
    _write(tmp_path, _table(6), partition_by=["country"])
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _table(4, start=50).to_batches(max_chunksize=2)
        raise RuntimeError("upstream broke")

    with pytest.raises(RuntimeError, match="upstream broke"):
        _write(tmp_path, failing(), partition_by=["country"])
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before
    assert sorted(os.listdir(tmp_path / "out")) == ["orders"], "no staging left"


def test_a_link_planted_in_the_target_is_never_written_through(tmp_path: Path) -> None:
    _write(tmp_path, _table(4), partition_by=["country"])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine", encoding="utf-8")
    planted = tmp_path / "out/orders/country=cz"
    for part in planted.iterdir():
        part.unlink()
    planted.rmdir()
    planted.symlink_to(victim, target_is_directory=True)
    _write(tmp_path, _table(4, start=10), partition_by=["country"])
    assert sorted(os.listdir(victim)) == ["keep.txt"], "nothing written into the link's target"
    assert not (tmp_path / "out/orders/country=cz").is_symlink()
    assert _ids(tmp_path) == [10, 11, 12, 13]


def test_overwrite_false_refuses_an_existing_dataset(tmp_path: Path) -> None:
    _write(tmp_path, _table(4), partition_by=["country"], overwrite=False)
    with pytest.raises(DriverError, match="already exists and overwrite is false"):
        _write(tmp_path, _table(4, start=9), partition_by=["country"], overwrite=False)
    assert _ids(tmp_path) == [0, 1, 2, 3]
    (tmp_path / "out/file").write_text("x", encoding="utf-8")
    with pytest.raises(DriverError, match="a file is there"):
        _write(tmp_path, _table(2), path="out/file/")


KILLED = """
import time
import pyarrow as pa
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.testing import RecordingContext

def batches():
    yield pa.record_batch({{"id": pa.array([1, 2], pa.int64()), "country": ["cz", "de"]}})
    print("staged", flush=True)
    time.sleep(60)

ctx = RecordingContext(config={{"path": "out/orders/", "partition_by": ["country"]}}, work_dir={work!r}, mode="write")
ParquetWriter().write(ctx, pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int64()), ("country", pa.string())]),
                                                            batches()))
"""


def test_a_killed_run_leaves_staging_that_the_next_write_sweeps(tmp_path: Path) -> None:
    _write(tmp_path, _table(4), partition_by=["country"])
    child = subprocess.Popen([sys.executable, "-c", KILLED.format(work=str(tmp_path))],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None and child.stdout.readline().strip() == "staged"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert len(os.listdir(tmp_path / "out")) == 2, "the killed run's staging is left"
    assert _ids(tmp_path) == [0, 1, 2, 3]
    _write(tmp_path, _table(2, start=7), partition_by=["country"])
    assert sorted(os.listdir(tmp_path / "out")) == ["orders"]
    assert _ids(tmp_path) == [7, 8]


class _Commit:
    def __init__(self, record: StateRecord) -> None:
        self.record = record

    def records(self) -> list[StateRecord]:
        return [self.record]

    def expected(self) -> list[tuple[str, str, str | None]]:
        return [(self.record.pipeline, self.record.step, self.record.previous)]


def test_incremental_state_is_written_beside_the_dataset(tmp_path: Path) -> None:
    ctx = RecordingContext(config={"path": "out/orders/", "partition_by": ["country"]}, work_dir=tmp_path, mode="write")
    ctx.state_commit = _Commit(StateRecord("sync", "read", '{"value":3}', None))  # type: ignore[attr-defined]
    ParquetWriter().write(ctx, _table(4).to_reader())
    assert (tmp_path / "out/.osiris-state/sync/read.json").read_text(encoding="utf-8") == '{"value":3}'
    assert ParquetWriter().read_state(ctx, "sync", "read") == '{"value":3}'
