"""Discovery over files: tables, columns, Arrow types, row counts, samples on request."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.runtime.driver import Discoverer, DriverError, ResolvedConnection


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    (root / "sub").mkdir(parents=True)
    (root / "orders.csv").write_text('id,total,day\n1,9.5,2024-01-01\n2,,2024-01-02\n3,"1,5",2024-01-03\n')
    (root / "sub" / "people.tsv.gz").write_bytes(gzip.compress("name\tage\nÅsa\t31\nBo\t40\n".encode()))
    (root / "latin.csv").write_bytes("město;počet\nBrno;1\n".encode("cp1250"))
    (root / "multi.csv").write_text('id,note\n1,"two\nlines"\n2,plain\n')
    (root / ".hidden.csv").write_text("a\n1\n")
    (root / "empty.csv").write_text("")
    (root / "readme.txt").write_text("not a table")
    pq.write_table(
        pa.table({"k": pa.array(range(1500), pa.int32()), "v": ["x"] * 1500}), root / "facts.parquet"
    )
    return root


def test_every_registered_discoverer_implements_the_protocol() -> None:
    from osiris.drivers.files.discovery import FilesDiscoverer
    from osiris.runtime.registry import default_registry

    registry = default_registry()
    for family in ("filesystem", "mysql", "postgres", "supabase"):
        assert isinstance(registry.discoverer(family), Discoverer), family
    assert isinstance(registry.discoverer("filesystem"), FilesDiscoverer)


def test_csv_directory(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lake.parent)
    result = CsvExtractor().discover(None, path="lake")
    assert result.source == "lake"
    tables = {t.name: t for t in result.tables}
    assert list(tables) == ["empty.csv", "latin.csv", "multi.csv", "orders.csv", "sub/people.tsv.gz"]
    assert tables["empty.csv"].columns == () and tables["empty.csv"].row_count == 0
    orders = tables["orders.csv"]
    assert [(c.name, c.arrow_type) for c in orders.columns] == [
        ("id", "int64"),
        ("total", "string"),
        ("day", "date32[day]"),
    ]
    assert orders.row_count == 3 and orders.sample == ()
    assert tables["multi.csv"].row_count == 2  # a quoted newline is not a row
    people = tables["sub/people.tsv.gz"]
    assert [c.name for c in people.columns] == ["name", "age"] and people.row_count == 2
    assert [c.name for c in tables["latin.csv"].columns] == ["mìsto", "poèet"]  # sniffed as latin-1


def test_samples_and_table_filter(lake: Path) -> None:
    conn = ResolvedConnection(family="filesystem", alias="lake", fields={"base_dir": str(lake)})
    result = CsvExtractor().discover(conn, tables=["sub/people.tsv.gz"], sample_rows=1)
    (people,) = result.tables
    assert people.sample == ({"name": "Åsa", "age": 31},)
    with pytest.raises(DriverError, match="no file 'order.csv'") as caught:
        CsvExtractor().discover(conn, tables=["order.csv"])
    assert "orders.csv" in caught.value.hint


def test_parquet_from_footer(lake: Path) -> None:
    result = ParquetExtractor().discover(None, path=str(lake), sample_rows=2)
    (facts,) = result.tables
    assert facts.name == "facts.parquet" and facts.row_count == 1500
    assert [(c.name, c.arrow_type) for c in facts.columns] == [("k", "int32"), ("v", "string")]
    assert facts.sample == ({"k": 0, "v": "x"}, {"k": 1, "v": "x"})
    single = ParquetExtractor().discover(None, path=str(lake / "facts.parquet"))
    assert single.tables[0].name == "facts.parquet" and single.tables[0].sample == ()


def test_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DriverError, match="file not found: nowhere"):
        CsvExtractor().discover(None, path="nowhere")
    with pytest.raises(DriverError, match="discovery needs a path"):
        CsvExtractor().discover(None)
