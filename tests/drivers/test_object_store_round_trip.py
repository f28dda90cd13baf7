"""Parquet to and from object stores through real servers on 127.0.0.1: moto (S3), Azurite
(Azure Blob) and gcp-storage-emulator (GCS); the same round-trip and failure tests on each.

What is proved: hive `partition_by` and rotation write deterministic part names; extractors
read prefixes, globs and hive partitions as columns, with a SQL filter; a failed write leaves
the target exactly as it was and removes its temporary prefix; a step without the store's
connection is refused at run time too (OML086).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from osiris.drivers.common.objectstore import open_store
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.driver import DriverError
from osiris.runtime.testing import RecordingContext
from tests.support.object_stores import Store, store_fixture

pytestmark = pytest.mark.timeout(60)


store = store_fixture()


def _table(rows: int = 10) -> pa.Table:
    return pa.table({"id": pa.array(range(rows), pa.int64()),
                     "country": pa.array(["cz", "de"] * (rows // 2), pa.string()),
                     "amount": pa.array([float(i) * 1.5 for i in range(rows)], pa.float64())})


def _write(store: Store, path: str, table: pa.Table, **config: object) -> None:
    ctx = RecordingContext(config={"path": path, "connection": "@x", **config}, connection=store.connection(),
                           mode="write")
    ParquetWriter().write(ctx, pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3)))


def _read(store: Store, path: str, **config: object) -> pa.Table:
    ctx = RecordingContext(config={"path": path, **config}, connection=store.connection())
    return ParquetExtractor().extract(ctx).read_all()


def _objects(store: Store, bucket: str) -> list[str]:
    fs = open_store(store.connection(), store.uri(bucket, "x")).fs
    infos = fs.get_file_info(pafs.FileSelector(bucket, recursive=True, allow_not_found=True))
    return sorted(i.path[len(bucket) + 1:] for i in infos if i.type == pafs.FileType.File)


def test_one_object_round_trips(store: Store) -> None:
    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "out/orders.parquet"), _table())
    assert _objects(store, bucket) == ["out/orders.parquet"]
    assert _read(store, store.uri(bucket, "out/orders.parquet")).equals(_table())


def test_partitioned_dataset_has_deterministic_parts_and_reads_back_with_partition_columns(store: Store) -> None:
    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "lake/orders/"), _table(12), partition_by=["country"], max_rows_per_file=4)
    assert _objects(store, bucket) == ["lake/orders/country=cz/part-00000.parquet",
                                       "lake/orders/country=cz/part-00001.parquet",
                                       "lake/orders/country=de/part-00000.parquet",
                                       "lake/orders/country=de/part-00001.parquet"]
    back = _read(store, store.uri(bucket, "lake/orders/")).sort_by("id")
    assert back.column("id").to_pylist() == list(range(12))
    assert back.column("country").to_pylist() == ["cz", "de"] * 6
    only_de = _read(store, store.uri(bucket, "lake/orders/"), filter="country = 'de' AND amount > 6")
    assert sorted(only_de.column("id").to_pylist()) == [5, 7, 9, 11]
    globbed = _read(store, store.uri(bucket, "lake/orders/country=cz/part-*.parquet"), columns=["id"])
    assert sorted(globbed.column("id").to_pylist()) == [0, 2, 4, 6, 8, 10]


def test_rewrite_replaces_the_dataset_and_drops_parts_the_new_one_lacks(store: Store) -> None:
    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "d/"), _table(10), max_rows_per_file=3)
    assert len(_objects(store, bucket)) == 4
    _write(store, store.uri(bucket, "d/"), _table(4), max_rows_per_file=3)
    assert _objects(store, bucket) == ["d/part-00000.parquet", "d/part-00001.parquet"]
    assert _read(store, store.uri(bucket, "d/")).num_rows == 4


def test_a_failed_write_leaves_the_target_as_it_was_and_no_temporary_prefix(store: Store) -> None:
    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "d/"), _table(6), partition_by=["country"])
    before = _objects(store, bucket)

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _table(20).to_batches(max_chunksize=5)[:2]
        raise RuntimeError("upstream broke")

    ctx = RecordingContext(config={"path": store.uri(bucket, "d/"), "partition_by": ["country"]},
                           connection=store.connection(), mode="write")
    with pytest.raises(RuntimeError, match="upstream broke"):
        ParquetWriter().write(ctx, pa.RecordBatchReader.from_batches(_table().schema, failing()))
    assert _objects(store, bucket) == before
    assert _read(store, store.uri(bucket, "d/")).num_rows == 6


def test_a_missing_prefix_and_a_wrong_connection_are_driver_errors(store: Store) -> None:
    bucket = store.new_bucket()
    with pytest.raises(DriverError, match="holds no Parquet files"):
        _read(store, store.uri(bucket, "nothing/here/"))
    ctx = RecordingContext(config={"path": "https://example.com/x.parquet"}, connection=store.connection())
    with pytest.raises(DriverError, match=r"\[OML084\]"):
        ParquetExtractor().extract(ctx)
    ctx = RecordingContext(config={"path": store.uri(bucket, "x.parquet")}, connection=None)
    with pytest.raises(DriverError, match=r"\[OML086\]"):
        ParquetExtractor().extract(ctx)


def test_csv_round_trips_through_one_object(store: Store) -> None:
    from osiris.drivers.files.csv_extractor import CsvExtractor
    from osiris.drivers.files.csv_writer import CsvWriter

    bucket = store.new_bucket()
    uri = store.uri(bucket, "exports/orders.csv.gz")
    table = _table(8)
    ctx = RecordingContext(config={"path": uri, "compression": "gzip"}, connection=store.connection(), mode="write")
    CsvWriter().write(ctx, pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3)))
    assert _objects(store, bucket) == ["exports/orders.csv.gz"]
    back = CsvExtractor().extract(RecordingContext(config={"path": uri}, connection=store.connection())).read_all()
    assert back.equals(table)


def test_an_http_endpoint_on_a_remote_host_is_reported_as_unencrypted() -> None:
    from osiris.runtime.driver import ResolvedConnection

    told: list[tuple[str, str, str]] = []
    remote = ResolvedConnection("s3", "lake", {"endpoint": "http://minio.internal:9000", "access_key_id": "k",
                                               "secret_access_key": "s"}, frozenset({"access_key_id"}),
                                on_unencrypted=lambda *args: told.append(args))
    open_store(remote, "s3://lake/x.parquet")
    local = ResolvedConnection("s3", "dev", {"endpoint": "http://127.0.0.1:9000"},
                               on_unencrypted=lambda *args: told.append(args))
    open_store(local, "s3://lake/x.parquet")
    assert told == [("@s3.lake", "minio.internal", "over http:// (its `endpoint` has no TLS)")]


class _Commit:
    """What the runtime hands a keeper: the states to write with this write's data."""

    def __init__(self, *records: object) -> None:
        self.list = list(records)

    def records(self) -> list:
        return self.list

    def expected(self) -> list:
        return [(r.pipeline, r.step, r.previous) for r in self.list]


def test_incremental_state_is_kept_beside_the_dataset(store: Store) -> None:
    from osiris.runtime.incremental import StateRecord

    bucket = store.new_bucket()
    path = store.uri(bucket, "lake/orders/")
    first = StateRecord("sync", "read", '{"value":1}', None)
    ctx = RecordingContext(config={"path": path, "connection": "@x", "partition_by": ["country"]},
                           connection=store.connection(), mode="write")
    ctx.state_commit = _Commit(first)  # type: ignore[attr-defined]
    writer = ParquetWriter()
    writer.write(ctx, _table().to_reader())
    assert "lake/.osiris-state/sync/read.json" in _objects(store, bucket), "beside the dataset, not inside it"
    assert writer.read_state(ctx, "sync", "read") == '{"value":1}'
    assert writer.list_state(ctx, "sync") == {"read": '{"value":1}'}
    ctx.state_commit = _Commit(StateRecord("sync", "read", '{"value":2}', '{"value":0}'))  # type: ignore[attr-defined]
    before = _objects(store, bucket)
    with pytest.raises(DriverError, match="changed while this run loaded it"):
        writer.write(ctx, _table(4).to_reader())
    assert _objects(store, bucket) == before and _read(store, path).num_rows == 10, "nothing written"
    assert writer.read_state(ctx, "sync", "read") == '{"value":1}'
    assert writer.reset_state(ctx, "sync", ["read", "other"]) == 1
    assert writer.read_state(ctx, "sync", "read") is None


def test_the_doctor_lists_what_the_alias_can_see(store: Store) -> None:
    store.new_bucket()
    report = ParquetWriter().health_check(store.connection(), timeout_s=20)
    assert report.ok, report.message
    assert report.message.startswith("answers")
    if store.kind != "gcs":
        assert "visible" in report.message and not report.message.startswith("answers; 0 ")


def test_osiris_connections_doctor_checks_a_store_alias(store: Store, tmp_path) -> None:  # noqa: ANN001
    import json
    import os
    import subprocess
    import sys

    from tests.runtime.conftest import REPO

    fields = {k: v for k, v in store.fields.items()}
    (tmp_path / "osiris_connections.yaml").write_text(
        json.dumps({"version": 1, "connections": {store.kind: {"lake": fields}}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "connections", "doctor", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'"ref": "@{store.kind}.lake"' in done.stdout and '"ok": true' in done.stdout, done.stdout


def test_osiris_discover_lists_the_objects_under_a_prefix(store: Store, tmp_path) -> None:  # noqa: ANN001
    import json
    import os
    import subprocess
    import sys

    from tests.runtime.conftest import REPO

    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "lake/orders/"), _table(12), partition_by=["country"])
    fs = open_store(store.connection(), store.uri(bucket, "x")).fs
    with fs.open_output_stream(f"{bucket}/lake/notes.csv") as out:
        out.write(b"id,text\n1,a\n2,b\n")
    with fs.open_output_stream(f"{bucket}/lake/.osiris-state/p/read.json") as out:
        out.write(b"{}")
    aliases = {"lake": dict(store.fields), "main": {**store.fields, "default": True}}
    (tmp_path / "osiris_connections.yaml").write_text(
        json.dumps({"version": 1, "connections": {store.kind: aliases}}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSIRIS_CACHE_DIR": str(tmp_path / "cache")}

    def discover(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "discover", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env=env)

    done = discover(store.uri(bucket, "lake/"), "--via", f"@{store.kind}.lake", "--json", "--sample", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    found = {t["name"]: t for t in json.loads(done.stdout)["tables"]}
    assert set(found) == {"orders/country=cz/part-00000.parquet", "orders/country=de/part-00000.parquet",
                          "notes.csv"}, "the state file is not a table"
    assert found["orders/country=cz/part-00000.parquet"]["row_count"] == 6
    assert [c["name"] for c in found["notes.csv"]["columns"]] == ["id", "text"]
    assert found["notes.csv"]["sample"] == [{"id": 1, "text": "a"}]
    assert discover(store.uri(bucket, "lake/"), "--json").returncode == 0, "the family's default alias"
    wrong = discover(store.uri(bucket, "lake/"), "--via", "@postgres.db")
    assert wrong.returncode == 1 and "not defined" in wrong.stderr, wrong.stderr
    assert discover(store.uri(bucket, "nothing/")).returncode == 1


def test_modified_cursor_reads_only_objects_not_loaded(store: Store) -> None:
    from osiris.runtime.incremental import CursorFilter, file_digest

    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "drops/a.parquet"), _table(4))
    _write(store, store.uri(bucket, "drops/b.parquet"), _table(6))
    seen: list[tuple[str, int, int]] = []

    def read(bound: CursorFilter) -> pa.Table:
        ctx = RecordingContext(config={"path": store.uri(bucket, "drops/")}, connection=store.connection())
        ctx.incremental = bound  # type: ignore[attr-defined]
        return ParquetExtractor().extract(ctx).read_all()

    assert read(CursorFilter("@modified", ">=", None, seen=lambda *f: seen.append(f))).num_rows == 10
    assert sorted(name.rsplit("/", 1)[1] for name, _, _ in seen) == ["a.parquet", "b.parquet"]
    top = max(m for _, _, m in seen)
    loaded = frozenset(file_digest(*f) for f in seen if f[2] == top)
    again: list = []
    assert read(CursorFilter("@modified", ">=", top, loaded, seen=lambda *f: again.append(f))).num_rows == 0
    assert again == []
    _write(store, store.uri(bucket, "drops/c.parquet"), _table(2))
    later = read(CursorFilter("@modified", ">=", top, loaded, seen=lambda *f: again.append(f)))
    assert later.num_rows == 2 and [n.rsplit("/", 1)[1] for n, _, _ in again] == ["c.parquet"]


def test_modified_cursor_combines_with_a_filter(store: Store) -> None:
    from osiris.runtime.incremental import CursorFilter, file_digest

    bucket = store.new_bucket()
    _write(store, store.uri(bucket, "drops/a.parquet"), _table(4))
    seen: list = []

    def read(bound: CursorFilter) -> list[int]:
        ctx = RecordingContext(config={"path": store.uri(bucket, "drops/"), "filter": "country = 'de'"},
                               connection=store.connection())
        ctx.incremental = bound  # type: ignore[attr-defined]
        return sorted(ParquetExtractor().extract(ctx).read_all().column("id").to_pylist())

    assert read(CursorFilter("@modified", ">", None, seen=lambda *f: seen.append(f))) == [1, 3]
    top = max(m for _, _, m in seen)
    loaded = frozenset(file_digest(*f) for f in seen if f[2] == top)
    _write(store, store.uri(bucket, "drops/b.parquet"), _table(6))
    assert read(CursorFilter("@modified", ">=", top, loaded, seen=lambda *f: None)) == [1, 3, 5], "b only, filtered"


def test_a_bucket_alone_is_not_a_write_target(store: Store) -> None:
    bucket = store.new_bucket()
    for path in (store.uri(bucket, ""), store.uri(bucket, "").rstrip("/")):
        with pytest.raises(DriverError, match="names a bucket, not an object or a prefix"):
            _write(store, path, _table(4), partition_by=["country"])
    assert _objects(store, bucket) == []


def test_a_distributed_read_splits_the_objects_into_row_group_runs(store: Store) -> None:
    from osiris.runtime.driver import PartitionHints

    bucket = store.new_bucket()
    path = store.uri(bucket, "d/")
    _write(store, path, _table(40), partition_by=["country"], max_rows_per_file=5)
    parts = ParquetExtractor().plan_partitions(RecordingContext(config={"path": path}, connection=store.connection()),
                                               PartitionHints(count=3))
    assert len(parts) == 3 and all("row group" in p.label for p in parts)
    rows: list[tuple[int, str]] = []
    for part in parts:
        ctx = RecordingContext(config={"path": path}, connection=store.connection())
        ctx.partition = part  # type: ignore[attr-defined]
        table = ParquetExtractor().extract(ctx).read_all()
        assert table.schema.names == ["id", "amount", "country"], "the partition column as in a whole read"
        rows += zip(table.column("id").to_pylist(), table.column("country").to_pylist(), strict=True)
    assert sorted(rows) == sorted(zip(range(40), ["cz", "de"] * 20, strict=True)), "every row once"
    filtered = ParquetExtractor().plan_partitions(
        RecordingContext(config={"path": path, "filter": "id > 3"}, connection=store.connection()), PartitionHints(3))
    assert len(filtered) == 1, "a filter is DuckDB over the whole dataset: one partition"
