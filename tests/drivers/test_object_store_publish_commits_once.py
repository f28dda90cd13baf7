"""A dataset published into an object store is committed by one object, on all three servers.

The copies into place are many requests; a run can die among them. What is proved: after the
commit (the publish intent) and before the copies finish, readers read the new dataset whole
(a prefix, a glob, one of its objects), never the old and new parts mixed; the incremental
state committed with it is the one read; the next write finishes the unfinished publish
first, including its state, and leaves no intent and no temporary prefix; an intent that
Osiris would not have written (names leading out of the target, a staged prefix elsewhere,
state outside the state folder) is refused by readers and writers and nothing is copied or
deleted; `@modified` reads refuse to guess while a publish is unfinished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from osiris.drivers.common import store_publish
from osiris.drivers.common.objectstore import open_store
from osiris.drivers.common.store_publish import INTENT, PublishIntent
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.driver import DriverError
from osiris.runtime.incremental import CursorFilter, StateRecord
from osiris.runtime.testing import RecordingContext
from tests.drivers.test_object_store_round_trip import _Commit, _objects, _read, _table, _write
from tests.drivers.test_object_store_round_trip import store as store  # noqa: PLC0414 - the fixture
from tests.support.object_stores import Store

pytestmark = pytest.mark.timeout(90)


def _die_after_first_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's process loses the store after the commit and one copy into place."""

    def partial(fs, target, intent) -> None:  # noqa: ANN001
        fs.copy_file(f"{intent.staged}/{intent.objects[0]}", f"{target}/{intent.objects[0]}")
        raise OSError("connection reset by peer")

    monkeypatch.setattr(store_publish, "finish_publish", partial)


def _writer_ctx(store: Store, path: str, state: StateRecord | None = None, **config: object) -> RecordingContext:
    ctx = RecordingContext(config={"path": path, "connection": "@x", **config}, connection=store.connection(),
                           mode="write")
    if state is not None:
        ctx.state_commit = _Commit(state)  # type: ignore[attr-defined]
    return ctx


def _ids(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist())


def _shifted(rows: int, by: int) -> pa.Table:
    table = _table(rows)
    return table.set_column(0, "id", pa.array([i + by for i in range(rows)], pa.int64()))


def test_readers_see_the_new_dataset_whole_after_the_commit_and_the_next_write_finishes_it(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = store.new_bucket()
    path = store.uri(bucket, "lake/orders/")
    _write(store, path, _table(12), partition_by=["country"], max_rows_per_file=2)  # 6 parts per country
    new = _shifted(4, 100)
    _die_after_first_copy(monkeypatch)
    writer = ParquetWriter()
    ctx = _writer_ctx(store, path, StateRecord("sync", "read", '{"value":7}', None), partition_by=["country"],
                      max_rows_per_file=2)
    with pytest.raises(DriverError, match="is committed") as raised:
        writer.write(ctx, new.to_reader())
    assert "connection reset" in str(raised.value)
    physical = [n for n in _objects(store, bucket) if n.startswith("lake/orders/")]
    assert f"lake/orders/{INTENT}" in physical and len(physical) == 7, "the store holds old and new parts mixed"
    monkeypatch.undo()

    assert _ids(_read(store, path)) == _ids(new), "a prefix reads the committed dataset, not the mix"
    cz = _read(store, store.uri(bucket, "lake/orders/country=cz/*.parquet"))
    assert _ids(cz) == [100, 102]
    assert _ids(_read(store, store.uri(bucket, "lake/orders/country=de/part-00000.parquet"))) == [101, 103]
    with pytest.raises(DriverError, match="not in the dataset committed"):
        _read(store, store.uri(bucket, "lake/orders/country=de/part-00001.parquet"))
    assert _ids(_read(store, store.uri(bucket, "lake/"))) == _ids(new), "a reader above the dataset too"
    assert writer.read_state(ctx, "sync", "read") == '{"value":7}', "the state committed with the data"
    assert writer.list_state(ctx, "sync") == {"read": '{"value":7}'}
    with pytest.raises(DriverError, match="unfinished publish"):
        writer.reset_state(ctx, "sync", ["read"])

    _write(store, path, _shifted(2, 200), partition_by=["country"])  # another run: no state of its own
    assert _ids(_read(store, path)) == [200, 201]
    left = _objects(store, bucket)
    assert left == ["lake/.osiris-state/sync/read.json", "lake/orders/country=cz/part-00000.parquet",
                    "lake/orders/country=de/part-00000.parquet"], "no intent, no temporary prefix"
    assert writer.read_state(ctx, "sync", "read") == '{"value":7}', "the unfinished publish's state was written"


def test_a_failure_before_the_commit_leaves_everything_as_it_was(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = store.new_bucket()
    path = store.uri(bucket, "d/")
    _write(store, path, _table(6), max_rows_per_file=2)
    before = _objects(store, bucket)

    def no_commit(self) -> bytes:  # noqa: ANN001
        raise OSError("the intent's PUT was refused")

    monkeypatch.setattr(PublishIntent, "to_bytes", no_commit)
    with pytest.raises(DriverError, match="refused"):
        _write(store, path, _shifted(4, 50), max_rows_per_file=2)
    assert _objects(store, bucket) == before
    assert _ids(_read(store, path)) == list(range(6))


def _plant(store: Store, bucket: str, target: str, intent: dict) -> None:
    fs = open_store(store.connection(), store.uri(bucket, "x")).fs
    with fs.open_output_stream(f"{bucket}/{target}/{INTENT}") as stream:
        stream.write(json.dumps(intent).encode())


@pytest.mark.parametrize("forged", [
    {"objects": ["../victim/data.parquet"]},
    {"remove": ["../victim/data.parquet"]},
    {"staged": "{bucket}/victim"},
    {"staged": "{bucket}/other.osiris-tmp-0123456789abcdef"},
    {"states": [["{bucket}/victim/data.parquet", "{{}}"]]},
    {"version": 2},
    "not json",
], ids=["object-out", "remove-out", "staged-elsewhere", "staged-of-another-target", "state-outside", "version",
        "garbage"])
def test_a_forged_intent_is_refused_and_nothing_is_touched(store: Store, forged: dict | str) -> None:
    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "victim/data.parquet"), _table(4))
    _write(store, store.uri(bucket, "d/"), _table(6))
    intent = {"version": 1, "staged": f"{bucket}/d.osiris-tmp-0123456789abcdef", "objects": ["part-00000.parquet"],
              "remove": [], "states": []}
    if isinstance(forged, dict):
        intent.update({k: json.loads(json.dumps(v).replace("{bucket}", bucket).replace("{{}}", "{}"))
                       for k, v in forged.items()})
        _plant(store, bucket, "d", intent)
    else:
        fs = open_store(store.connection(), store.uri(bucket, "x")).fs
        with fs.open_output_stream(f"{bucket}/d/{INTENT}") as stream:
            stream.write(forged.encode())
    before = _objects(store, bucket)
    with pytest.raises(DriverError, match="not a publish intent Osiris wrote"):
        _read(store, store.uri(bucket, "d/"))
    with pytest.raises(DriverError, match="not a publish intent Osiris wrote"):
        _write(store, store.uri(bucket, "d/"), _table(2))
    assert _objects(store, bucket) == before, "nothing copied, deleted or written"
    assert _read(store, store.uri(bucket, "victim/data.parquet")).num_rows == 4


def test_modified_reads_refuse_while_a_publish_is_unfinished(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = store.new_bucket()
    path = store.uri(bucket, "drops/")
    _write(store, path, _table(4), max_rows_per_file=2)
    _die_after_first_copy(monkeypatch)
    with pytest.raises(DriverError, match="is committed"):
        _write(store, path, _table(6), max_rows_per_file=2)
    monkeypatch.undo()
    ctx = RecordingContext(config={"path": path}, connection=store.connection())
    ctx.incremental = CursorFilter("@modified", ">=", None)  # type: ignore[attr-defined]
    with pytest.raises(DriverError, match="publish into .* is unfinished"):
        ParquetExtractor().extract(ctx).read_all()


def _batches_then_fail(table: pa.Table) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=2)[:1]
    raise RuntimeError("upstream broke")


def test_an_unfinished_publish_survives_a_later_failed_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = store.new_bucket()
    path = store.uri(bucket, "d/")
    _write(store, path, _table(6), max_rows_per_file=2)
    _die_after_first_copy(monkeypatch)
    with pytest.raises(DriverError, match="is committed"):
        _write(store, path, _shifted(4, 10), max_rows_per_file=2)
    monkeypatch.undo()
    ctx = _writer_ctx(store, path, max_rows_per_file=2)
    with pytest.raises(RuntimeError, match="upstream broke"):
        ParquetWriter().write(ctx, pa.RecordBatchReader.from_batches(_table().schema, _batches_then_fail(_table(6))))
    assert _ids(_read(store, path)) == [10, 11, 12, 13], "still the committed dataset"


@pytest.mark.parametrize("target", ["d/", "out/data.parquet"], ids=["dataset", "one-object"])
def test_the_next_publish_sweeps_temporary_prefixes_that_killed_runs_left(
        store: Store, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    from datetime import timedelta

    bucket = store.new_bucket()
    fs = open_store(store.connection(), store.uri(bucket, "x")).fs
    name = target.rstrip("/")
    planted = {f"{name}.osiris-tmp-0123456789abcdef/part-00000.parquet": "killed before its commit",
               f"{name}2.osiris-tmp-0123456789abcdef/part-00000.parquet": "another target's",
               f"{name}.osiris-tmp-not-a-token/x": "not a name Osiris makes"}
    for key in planted:
        with fs.open_output_stream(f"{bucket}/{key}") as stream:
            stream.write(b"x")
    _write(store, store.uri(bucket, target), _table(4))
    assert all(key in _objects(store, bucket) for key in planted), "recent: perhaps a writer still running"
    monkeypatch.setattr(store_publish, "ABANDONED_AFTER", timedelta(0))
    _write(store, store.uri(bucket, target), _table(4))
    left = _objects(store, bucket)
    # gcp-storage-emulator answers a listing without recursion with nothing (real GCS lists the
    # prefixes), so there the sweep finds nothing to remove; it must still remove nothing else
    expected = list(planted) if store.kind == "gcs" else list(planted)[1:]
    assert [key for key in planted if key in left] == expected, "only the killed run's prefix went"
    assert _ids(_read(store, store.uri(bucket, target))) == [0, 1, 2, 3]


def test_discovery_reads_through_an_unfinished_publish(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from osiris.drivers.files.store_discovery import discover_store

    bucket = store.new_bucket()
    path = store.uri(bucket, "d/")
    _write(store, path, _table(12), max_rows_per_file=4)  # part-00000 .. part-00002
    _die_after_first_copy(monkeypatch)
    with pytest.raises(DriverError, match="is committed"):
        _write(store, path, _table(2), max_rows_per_file=4)  # part-00000 only, 2 rows
    monkeypatch.undo()
    found = discover_store(store.connection(), path)
    assert [(t.name, t.row_count) for t in found.tables] == [("part-00000.parquet", 2)], \
        "the committed dataset, not the old parts still in place"
