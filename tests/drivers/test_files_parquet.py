"""filesystem.parquet_extractor: columns, SQL filter with exact types, limit, directories."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.runtime.driver import Cancelled, DriverError, Extractor
from osiris.runtime.testing import RecordingContext

N = 5000


def sales() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(N), pa.int64()),
            "country": pa.array([["CZ", "DE", "Österreich"][i % 3] for i in range(N)], pa.large_string()),
            "amount": pa.array([Decimal(i) / 100 for i in range(N)], pa.decimal128(12, 2)),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i) for i in range(N)],
                pa.timestamp("ns", tz="Europe/Prague"),
            ),
            "tag": pa.array(["a", "b"] * (N // 2)).dictionary_encode(),
        }
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    pq.write_table(sales(), tmp_path / "sales.parquet", row_group_size=1000)
    return tmp_path


def extract(workdir: Path, **config) -> tuple[pa.Table, RecordingContext]:
    ctx = RecordingContext(config=config, work_dir=workdir)
    return ParquetExtractor().extract(ctx).read_all(), ctx


def test_protocol() -> None:
    assert isinstance(ParquetExtractor(), Extractor)


def test_reads_everything_in_batches(workdir: Path) -> None:
    table, ctx = extract(workdir, path="sales.parquet", batch_size=700)
    assert table.equals(sales())
    assert len(ctx.progress_calls) >= N // 700 and ctx.progress_calls[-1][0] == N


def test_columns_and_limit(workdir: Path) -> None:
    table, _ = extract(workdir, path="sales.parquet", columns=["amount", "id"], limit=1234, batch_size=500)
    assert table.schema.names == ["amount", "id"] and table.num_rows == 1234
    assert table.column("id").to_pylist() == list(range(1234))
    with pytest.raises(DriverError, match="'contry' is not a column") as caught:
        extract(workdir, path="sales.parquet", columns=["contry"])
    assert "did you mean 'country'" in caught.value.hint


def test_sql_filter_keeps_exact_types(workdir: Path) -> None:
    table, _ = extract(
        workdir, path="sales.parquet", filter="amount >= 10.50 AND country = 'Österreich' AND tag = 'b'"
    )
    expected = sales().filter(
        pa.compute.and_(
            pa.compute.and_(
                pa.compute.greater_equal(
                    sales()["amount"], pa.scalar(Decimal("10.50"), pa.decimal128(12, 2))
                ),
                pa.compute.equal(sales()["country"], "Österreich"),
            ),
            pa.compute.equal(sales()["tag"].cast(pa.string()), "b"),
        )
    )
    assert table.schema.equals(sales().schema)
    assert table.num_rows == expected.num_rows == 658
    assert table.drop_columns(["tag"]).equals(expected.drop_columns(["tag"]))
    assert table["tag"].cast(pa.string()).equals(expected["tag"].cast(pa.string()))  # dictionaries may differ
    limited, _ = extract(workdir, path="sales.parquet", filter="id % 2 = 0", limit=10, columns=["id"])
    assert limited.column("id").to_pylist() == list(range(0, 20, 2))


def test_bad_filter(workdir: Path) -> None:
    with pytest.raises(DriverError, match="filter on sales.parquet: .*nope") as caught:
        extract(workdir, path="sales.parquet", filter="nope > 1")
    assert "SQL boolean expression" in caught.value.hint


def test_directory_with_hive_partitions(tmp_path: Path) -> None:
    for part, rows in (("2023", [1, 2]), ("2024", [3])):
        (tmp_path / "lake" / f"year={part}").mkdir(parents=True)
        pq.write_table(pa.table({"v": rows}), tmp_path / "lake" / f"year={part}" / "part-0.parquet")
    (tmp_path / "lake" / ".hidden.parquet.osiris-tmp").write_text("half written")
    table, _ = extract(tmp_path, path="lake")
    assert table.column("v").to_pylist() == [1, 2, 3]
    assert table.column("year").to_pylist() == [2023, 2023, 2024]


def test_directory_files_are_conformed_to_the_dataset_schema(tmp_path: Path) -> None:
    """Files read one by one still give the dataset's schema: casts, missing columns, partitions."""
    lake = tmp_path / "lake"
    for part, rows in (("2023", [1, 2]), ("2024", [3])):
        (lake / f"year={part}").mkdir(parents=True)
        pq.write_table(pa.table({"v": rows, "w": ["a"] * len(rows)}), lake / f"year={part}" / "p.parquet")
    (lake / "year=2025").mkdir()
    pq.write_table(pa.table({"v": pa.array([9], pa.int32())}), lake / "year=2025" / "p.parquet")
    table, _ = extract(tmp_path, path="lake")
    assert table.schema.names == ["v", "w", "year"] and table.schema.field("v").type == pa.int64()
    assert table.to_pydict() == {"v": [1, 2, 3, 9], "w": ["a", "a", "a", None], "year": [2023, 2023, 2024, 2025]}
    only_partition, _ = extract(tmp_path, path="lake", columns=["year"])
    assert only_partition.to_pydict() == {"year": [2023, 2023, 2024, 2025]}


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "fake.parquet").write_text("not parquet at all")
    with pytest.raises(DriverError, match="cannot read fake.parquet: not a Parquet file"):
        extract(tmp_path, path="fake.parquet")
    with pytest.raises(DriverError, match="file not found: fake.parqet") as caught:
        extract(tmp_path, path="fake.parqet")
    assert "fake.parquet" in caught.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(DriverError, match="holds no Parquet files"):
        extract(tmp_path, path="empty")


def test_cancel_between_batches(workdir: Path) -> None:
    ctx = RecordingContext(config={"path": "sales.parquet", "batch_size": 500}, work_dir=workdir)
    reader = ParquetExtractor().extract(ctx)
    reader.read_next_batch()
    ctx.cancelled = True
    with pytest.raises(Cancelled):
        reader.read_next_batch()
