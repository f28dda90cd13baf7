"""Parquet and CSV extractors split into partitions: the slices' rows together are exactly the whole read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.runtime.driver import DriverError, Partition, PartitionHints
from osiris.runtime.testing import RecordingContext


def context(work: Path, config: dict, partition: Partition | None = None) -> RecordingContext:
    ctx = RecordingContext(config=config, work_dir=work, batch_rows=100)
    ctx.partition = partition  # type: ignore[attr-defined]
    return ctx


def split(extractor: Any, work: Path, count: int, **config: Any) -> tuple[list[Partition], list[pa.Table]]:
    parts = extractor.plan_partitions(context(work, config), PartitionHints(count=count))
    return parts, [extractor.extract(context(work, config, p)).read_all() for p in parts]


def rows_of(table: pa.Table) -> list[tuple]:
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows, key=lambda row: [(v is not None, v) for v in row])


def assert_exact(extractor: Any, work: Path, count: int, **config: Any) -> list[Partition]:
    expected = extractor.extract(context(work, config)).read_all()
    parts, tables = split(extractor, work, count, **config)
    assert 1 <= len(parts) <= count
    assert [(p.index, p.count) for p in parts] == [(i, len(parts)) for i in range(len(parts))]
    for part, table in zip(parts, tables, strict=True):
        assert table.schema == expected.schema, part.label
        assert json.loads(json.dumps(part.spec)) == part.spec
    assert rows_of(pa.concat_tables(tables)) == rows_of(expected)
    return parts


def numbers(start: int, stop: int) -> pa.Table:
    ids = list(range(start, stop))
    return pa.table({"id": pa.array(ids, pa.int64()),
                     "name": pa.array([None if i % 9 == 0 else f"n{i}" for i in ids], pa.large_string())})


@pytest.fixture
def big(tmp_path: Path) -> Path:
    pq.write_table(numbers(0, 1000), tmp_path / "big.parquet", row_group_size=100)
    return tmp_path


@pytest.fixture
def hive(tmp_path: Path) -> Path:
    for region, (lo, hi) in {"eu": (0, 250), "us": (250, 300), "asia": (300, 700)}.items():
        folder = tmp_path / "data" / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(numbers(lo, hi), folder / "part.parquet", row_group_size=50)
    return tmp_path


def test_a_big_file_splits_into_row_group_runs(big: Path) -> None:
    parts = assert_exact(ParquetExtractor(), big, 4, path="big.parquet")
    assert len(parts) == 4
    assert parts[0].spec == {"files": [["", 0, 3]]}
    assert sum(end - first for p in parts for _, first, end in p.spec["files"]) == 10


def test_more_partitions_than_row_groups_gives_one_per_group(big: Path) -> None:
    parts = assert_exact(ParquetExtractor(), big, 50, path="big.parquet")
    assert len(parts) == 10


def test_directory_keeps_hive_keys_and_columns(hive: Path) -> None:
    parts = assert_exact(ParquetExtractor(), hive, 3, path="data", columns=["region", "id"])
    assert len(parts) == 3
    assert {name for p in parts for name, _, _ in p.spec["files"]} == {
        "region=eu/part.parquet", "region=us/part.parquet", "region=asia/part.parquet"}
    groups = {"region=eu/part.parquet": 5, "region=us/part.parquet": 1, "region=asia/part.parquet": 8}
    assert all(len(p.spec["files"]) == 1 for p in parts)  # as many files as partitions: whole files
    assert all(end - first == groups[name] for p in parts for name, first, end in p.spec["files"])


def test_fewer_files_than_partitions_split_row_groups(hive: Path) -> None:
    parts = assert_exact(ParquetExtractor(), hive, 7, path="data")
    assert len(parts) == 7


def test_only_partition_columns(hive: Path) -> None:
    assert_exact(ParquetExtractor(), hive, 5, path="data", columns=["region"])


def test_filter_or_limit_is_one_partition(hive: Path) -> None:
    for config in ({"filter": "id % 2 = 0"}, {"limit": 10}):
        parts = assert_exact(ParquetExtractor(), hive, 4, path="data", **config)
        assert len(parts) == 1 and "one partition" in parts[0].label


def test_empty_file_is_one_partition_with_its_schema(tmp_path: Path) -> None:
    pq.write_table(numbers(0, 0), tmp_path / "empty.parquet")
    parts, tables = split(ParquetExtractor(), tmp_path, 4, path="empty.parquet")
    assert len(parts) == 1 and tables[0].num_rows == 0
    assert tables[0].schema == numbers(0, 0).schema


def test_a_spec_cannot_name_another_file(big: Path) -> None:
    bad = Partition(index=0, count=1, spec={"files": [["../etc/passwd", 0, 1]]})
    with pytest.raises(DriverError, match="no longer among"):
        ParquetExtractor().extract(context(big, {"path": "big.parquet"}, bad)).read_all()


def test_csv_is_one_partition_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,x\n2,\n3,z\n")
    parts = assert_exact(CsvExtractor(), tmp_path, 4, path="a.csv")
    assert len(parts) == 1 and "single CSV file" in parts[0].label
