"""filesystem.csv_extractor through the driver protocol: options, encodings, errors."""

from __future__ import annotations

import bz2
import gzip
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.runtime.driver import Cancelled, DriverError, Extractor, ResolvedConnection
from osiris.runtime.testing import RecordingContext

ORDERS = (
    'id,customer,amount,day\n1,Žofie Dvořáková,12.30,2024-01-02\n2,,0.05,2024-02-29\n3,"Smith, ""Jr""",,\n'
)


def extract(tmp_path: Path, **config) -> tuple[pa.Table, RecordingContext]:
    ctx = RecordingContext(config=config, work_dir=tmp_path, component="filesystem.csv_extractor")
    reader = CsvExtractor().extract(ctx)
    assert isinstance(reader, pa.RecordBatchReader)
    return reader.read_all(), ctx


def test_is_an_extractor() -> None:
    assert isinstance(CsvExtractor(), Extractor)


def test_reads_with_inference_and_nulls(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    table, ctx = extract(tmp_path, path="orders.csv")
    assert table.schema.names == ["id", "customer", "amount", "day"]
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("day").type == pa.date32()
    assert table.column("customer").to_pylist() == ["Žofie Dvořáková", None, 'Smith, "Jr"']
    assert ctx.progress_calls[-1][0] == 3


def test_schema_overrides(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    table, _ = extract(tmp_path, path="orders.csv", schema={"amount": "decimal128(12,2)", "id": "int32"})
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.schema.field("id").type == pa.int32()
    assert table.column("amount").to_pylist() == [Decimal("12.30"), Decimal("0.05"), None]


def test_override_errors(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    with pytest.raises(DriverError, match="unknown Arrow type 'in64' for column 'id'") as caught:
        extract(tmp_path, path="orders.csv", schema={"id": "in64"})
    assert "int64" in caught.value.hint
    with pytest.raises(DriverError, match="'amout' is not among the columns read from orders.csv") as caught:
        extract(tmp_path, path="orders.csv", schema={"amout": "float64"})
    assert "did you mean 'amount'" in caught.value.hint
    with pytest.raises(
        DriverError, match=r"line 2: column 'customer' value 'Žofie Dvořáková' is not a valid int64"
    ):
        extract(tmp_path, path="orders.csv", schema={"customer": "int64"})


def test_type_change_after_first_block_names_line_and_column(tmp_path: Path) -> None:
    lines = ["n,label"] + [f"{i},row{i}" for i in range(30000)] + ["1.5,late"]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DriverError, match=r"line 30002: column 'n' value '1.5' is not a valid int64"
    ) as caught:
        extract(tmp_path, path="big.csv", block_size=65536)
    assert "schema: {n: string}" in caught.value.hint
    table, _ = extract(tmp_path, path="big.csv", block_size=65536, schema={"n": "float64"})
    assert table.num_rows == 30001


def test_parse_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text('a,b,c\n1,2,3\n"multi\nline",5,6\n7,8\n9,10,11\n')
    with pytest.raises(DriverError, match=r"CSV parse error in bad.csv at line 5: expected 3 columns, got 2"):
        extract(tmp_path, path="bad.csv")


def test_missing_file_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(ORDERS)
    with pytest.raises(DriverError, match=r"^file not found: data/order\.csv$") as caught:
        extract(tmp_path, path="data/order.csv")
    assert "data/orders.csv" in caught.value.hint
    with pytest.raises(DriverError, match="is a directory"):
        extract(tmp_path, path="data")


def test_latin1_is_transcoded(tmp_path: Path) -> None:
    (tmp_path / "l1.csv").write_bytes("name;city\nJosé;Zürich\nÅsa;Malmö\n".encode("latin-1"))
    table, _ = extract(tmp_path, path="l1.csv", delimiter=";", encoding="latin-1")
    assert table.to_pylist() == [{"name": "José", "city": "Zürich"}, {"name": "Åsa", "city": "Malmö"}]
    with pytest.raises(DriverError, match="not valid utf-8") as caught:
        extract(tmp_path, path="l1.csv", delimiter=";")
    assert "encoding" in caught.value.hint


def test_utf16_and_bom(tmp_path: Path) -> None:
    (tmp_path / "u16.csv").write_bytes("a,b\n1,ü\n".encode("utf-16"))
    table, _ = extract(tmp_path, path="u16.csv", encoding="utf-16")
    assert table.to_pylist() == [{"a": 1, "b": "ü"}]
    (tmp_path / "bom.csv").write_bytes("\ufeffa,b\n1,x\n".encode())
    table, _ = extract(tmp_path, path="bom.csv")
    assert table.schema.names == ["a", "b"]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zst"])
def test_compression_inferred_and_explicit(tmp_path: Path, suffix: str) -> None:
    data = ORDERS.encode()
    if suffix == ".gz":
        payload, codec = gzip.compress(data), "gzip"
    elif suffix == ".bz2":
        payload, codec = bz2.compress(data), "bz2"
    else:
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as out:
            out.write(data)
        payload, codec = sink.getvalue().to_pybytes(), "zstd"
    (tmp_path / f"orders.csv{suffix}").write_bytes(payload)
    (tmp_path / "orders.bin").write_bytes(payload)
    inferred, _ = extract(tmp_path, path=f"orders.csv{suffix}")
    explicit, _ = extract(tmp_path, path="orders.bin", compression=codec)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(data)
    expected, _ = extract(tmp_path, path="plain.csv")
    assert inferred.equals(expected) and explicit.equals(expected)


def test_header_off_with_and_without_names(tmp_path: Path) -> None:
    (tmp_path / "raw.tsv").write_text("skip me\n1\tx\n2\ty\n")
    table, _ = extract(
        tmp_path, path="raw.tsv", delimiter="\t", header=False, skip_rows=1, column_names=["id", "v"]
    )
    assert table.to_pylist() == [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}]
    table, _ = extract(tmp_path, path="raw.tsv", delimiter="\t", header=False, skip_rows=1)
    assert table.schema.names == ["f0", "f1"]


def test_column_names_replace_the_header(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS)
    table, _ = extract(tmp_path, path="orders.csv", column_names=["a", "b", "c", "d"], columns=["d", "a"])
    assert table.schema.names == ["d", "a"]
    assert table.column("a").to_pylist() == [1, 2, 3]


def test_columns_limit_quotechar_null_values(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text("id|note\n1|'a|b'\n2|-\n3|''\n4|x\n")
    table, _ = extract(tmp_path, path="q.csv", delimiter="|", quotechar="'", null_values=["-"], limit=3)
    assert table.to_pylist() == [{"id": 1, "note": "a|b"}, {"id": 2, "note": None}, {"id": 3, "note": ""}]
    with pytest.raises(DriverError, match="'nope' is not a column"):
        extract(tmp_path, path="q.csv", delimiter="|", columns=["nope"])


def test_streams_in_blocks_and_honours_cancel(tmp_path: Path) -> None:
    lines = ["i,s"] + [f"{i},text {i}" for i in range(50000)]
    (tmp_path / "many.csv").write_text("\n".join(lines) + "\n")
    ctx = RecordingContext(config={"path": "many.csv", "block_size": 65536}, work_dir=tmp_path)
    reader = CsvExtractor().extract(ctx)
    first = reader.read_next_batch()
    assert 0 < first.num_rows < 50000
    ctx.cancelled = True
    with pytest.raises(Cancelled):
        reader.read_next_batch()
    ctx = RecordingContext(
        config={"path": "many.csv", "block_size": 65536, "limit": 12345}, work_dir=tmp_path
    )
    table = CsvExtractor().extract(ctx).read_all()
    assert table.num_rows == 12345 and len(ctx.progress_calls) > 1


def test_connection_base_dir(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "orders.csv").write_text(ORDERS)
    conn = ResolvedConnection(family="filesystem", alias="lake", fields={"base_dir": "lake"})
    ctx = RecordingContext(config={"path": "orders.csv"}, work_dir=tmp_path, connection=conn)
    assert CsvExtractor().extract(ctx).read_all().num_rows == 3
    ctx = RecordingContext(config={"path": "order.csv"}, work_dir=tmp_path, connection=conn)
    with pytest.raises(DriverError, match="file not found: order.csv") as caught:
        CsvExtractor().extract(ctx)
    assert "@filesystem.lake" in caught.value.hint and str(tmp_path) not in caught.value.hint


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DriverError, match="empty.csv is empty"):
        extract(tmp_path, path="empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    table, _ = extract(tmp_path, path="header.csv")
    assert table.num_rows == 0 and table.schema.names == ["a", "b"]
