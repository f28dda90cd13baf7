"""The committed quickstart data is what make_data.py generates, and the drivers read it."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.duckdb_sql.processor import DuckDBProcessor
from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.runtime.testing import RecordingContext, ipc_input

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def test_committed_files_match_the_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_data", QUICKSTART / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "data")
    generated = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert generated == sorted(p.name for p in (QUICKSTART / "data").iterdir())
    for name in generated:
        assert (tmp_path / "data" / name).read_bytes() == (QUICKSTART / "data" / name).read_bytes(), (
            f"{name} differs: run `python examples/quickstart/make_data.py` and commit the result"
        )


@pytest.fixture
def ctx_in_quickstart():
    def make(**config) -> RecordingContext:
        return RecordingContext(config=config, work_dir=QUICKSTART)

    return make


def test_orders_csv_reads_with_declared_types(ctx_in_quickstart) -> None:
    ctx = ctx_in_quickstart(
        path="data/orders.csv", schema={"order_id": "int64", "amount": "decimal128(12,2)"}
    )
    orders = CsvExtractor().extract(ctx).read_all()
    assert orders.num_rows == 2500
    assert orders.schema.field("amount").type == pa.decimal128(12, 2)
    assert orders.schema.field("created_at").type == pa.timestamp("s", tz="UTC")
    assert orders.schema.field("order_date").type == pa.date32()
    assert orders.column("note").null_count > 2000 and "" in orders.column("note").to_pylist()
    assert any("\n" in note for note in orders.column("note").to_pylist() if note)


def test_csv_and_parquet_customers_agree(ctx_in_quickstart) -> None:
    from_csv = CsvExtractor().extract(ctx_in_quickstart(path="data/customers.csv")).read_all()
    from_parquet = ParquetExtractor().extract(ctx_in_quickstart(path="data/customers.parquet")).read_all()
    assert from_csv.num_rows == 300 and from_csv.equals(from_parquet)
    assert "Łódź" in from_parquet.column("city").to_pylist()


def test_quickstart_join(ctx_in_quickstart, tmp_path: Path) -> None:
    orders = CsvExtractor().extract(
        ctx_in_quickstart(path="data/orders.csv", schema={"amount": "decimal128(12,2)"})
    )
    people = ParquetExtractor().extract(
        ctx_in_quickstart(path="data/customers.parquet", columns=["id", "country"])
    )
    inputs = {
        "extract-orders": ipc_input("extract-orders", orders, tmp_path),
        "extract-customers": ipc_input("extract-customers", people, tmp_path),
    }
    query = """
        SELECT c.country, count(*) AS orders, sum(o.amount) AS total
        FROM df_extract_orders o JOIN "extract-customers" c ON c.id = o.customer_id
        WHERE o.status <> 'cancelled'
        GROUP BY c.country ORDER BY c.country
    """
    ctx = RecordingContext(config={"query": query}, work_dir=tmp_path)
    result = DuckDBProcessor().transform(ctx, inputs).read_all()
    assert result.column("country").to_pylist() == ["CZ", "DE", "ES", "FR", "JP", "PL", "SE", "US"]
    assert pa.types.is_decimal(result.schema.field("total").type)
    assert all(total > Decimal(0) for total in result.column("total").to_pylist())
