"""Types survive Parquet -> CSV -> Parquet exactly, and files repeat byte for byte."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.files.csv_writer import CsvWriter
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.testing import RecordingContext

UTC = dt.UTC
PRAGUE = dt.timezone(dt.timedelta(hours=2))
TEXT = [
    "plain",
    "Žluťoučký kůň úpěl ďábelské ódy",
    "東京 🚀 עברית e\u0301",
    'quote " and, comma',
    "new\nline and\r\ncrlf",
    "",
    None,
    "NULL",
    " padded ",
]


def all_types() -> pa.Table:
    n = len(TEXT)

    def col(values: list, arrow_type: pa.DataType) -> pa.Array:
        return pa.array((values * n)[:n], arrow_type)

    return pa.table(
        {
            "i64": col([0, -(2**63), 2**63 - 1, None, 42], pa.int64()),
            "i32": col([-(2**31), 2**31 - 1, None], pa.int32()),
            "u64": col([2**64 - 1, 0, None], pa.uint64()),
            "f64": col([1.5, -0.0, 1e308, -2.2250738585072014e-308, None, float("inf")], pa.float64()),
            "dec": col(
                [Decimal("12.30"), Decimal("-0.01"), None, Decimal("9999999999.99")], pa.decimal128(12, 2)
            ),
            "dec38": col(
                [Decimal("9" * 28 + "." + "9" * 10), Decimal("-1.0000000001"), None], pa.decimal128(38, 10)
            ),
            "flag": col([True, False, None], pa.bool_()),
            "day": col([dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), None], pa.date32()),
            "ts": col(
                [dt.datetime(2024, 3, 31, 1, 59, 59, 999999), dt.datetime(1900, 1, 1), None],
                pa.timestamp("us"),
            ),
            "ts_utc": col(
                [dt.datetime(2024, 1, 1, tzinfo=UTC), None, dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "ts_prague": col(
                [
                    dt.datetime(2024, 7, 1, 12, 0, tzinfo=PRAGUE),
                    dt.datetime(2024, 10, 27, 2, 30, tzinfo=UTC),
                    None,
                ],
                pa.timestamp("ms", tz="Europe/Prague"),
            ),
            "ts_ns": col([1_700_000_000_123_456_789, None], pa.timestamp("ns", tz="UTC")),
            "tod": col([dt.time(0, 0), dt.time(23, 59, 59, 999999), None], pa.time64("us")),
            "text": pa.array(TEXT, pa.string()),
            "big_text": pa.array(TEXT, pa.large_string()),
        }
    )


def ctx_for(tmp_path: Path, **config) -> RecordingContext:
    return RecordingContext(config=config, work_dir=tmp_path)


def parquet_then_csv_then_parquet(tmp_path: Path, table: pa.Table) -> pa.Table:
    ParquetWriter().write(ctx_for(tmp_path, path="a.parquet"), table.to_reader(max_chunksize=4))
    from_parquet = ParquetExtractor().extract(ctx_for(tmp_path, path="a.parquet"))
    assert from_parquet.schema.equals(table.schema)
    CsvWriter().write(ctx_for(tmp_path, path="b.csv"), from_parquet)
    overrides = {field.name: str(field.type) for field in table.schema}
    from_csv = CsvExtractor().extract(ctx_for(tmp_path, path="b.csv", schema=overrides))
    ParquetWriter().write(ctx_for(tmp_path, path="c.parquet"), from_csv)
    return ParquetExtractor().extract(ctx_for(tmp_path, path="c.parquet")).read_all()


def test_all_types_roundtrip_exactly(tmp_path: Path) -> None:
    table = all_types()
    back = parquet_then_csv_then_parquet(tmp_path, table)
    assert back.schema.equals(table.schema)
    for name in table.column_names:
        assert back.column(name).equals(table.column(name)), (name, back.column(name), table.column(name))
    assert back.equals(table)


def test_csv_and_parquet_bytes_repeat(tmp_path: Path) -> None:
    table = all_types()
    for run in ("one", "two"):
        CsvWriter().write(ctx_for(tmp_path, path=f"{run}.csv"), table.to_reader(max_chunksize=3))
        ParquetWriter().write(ctx_for(tmp_path, path=f"{run}.parquet"), table.to_reader(max_chunksize=3))
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()
    # CSV text does not depend on how the stream was batched.
    CsvWriter().write(ctx_for(tmp_path, path="whole.csv"), table.to_reader())
    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_quotechar_roundtrip(tmp_path: Path) -> None:
    table = all_types().select(["i64", "dec", "day", "ts_utc", "text"])
    CsvWriter().write(ctx_for(tmp_path, path="q.csv", quotechar="'", delimiter=";"), table.to_reader())
    overrides = {field.name: str(field.type) for field in table.schema}
    back = CsvExtractor().extract(
        ctx_for(tmp_path, path="q.csv", quotechar="'", delimiter=";", schema=overrides)
    )
    assert back.read_all().equals(table)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1250"])
def test_encoded_roundtrip(tmp_path: Path, encoding: str) -> None:
    table = pa.table({"id": [1, 2, 3], "name": ["Dvořák" if encoding == "cp1250" else "Dvorák", "", None]})
    CsvWriter().write(
        ctx_for(tmp_path, path="e.csv", encoding=encoding, compression="gzip"), table.to_reader()
    )
    back = CsvExtractor().extract(ctx_for(tmp_path, path="e.csv", encoding=encoding, compression="gzip"))
    assert back.read_all().equals(table)


text_values = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
rows = st.lists(
    st.tuples(
        text_values,
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(
            st.none(),
            st.decimals(
                min_value=Decimal("-9999999999.99"),
                max_value=Decimal("9999999999.99"),
                places=2,
                allow_nan=False,
            ),
        ),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, delimiter=st.sampled_from([",", ";", "\t", "|"]), newline=st.sampled_from(["lf", "crlf"]))
def test_csv_roundtrip_property(tmp_path: Path, rows: list, delimiter: str, newline: str) -> None:
    schema = pa.schema([("s", pa.string()), ("i", pa.int64()), ("d", pa.decimal128(12, 2))])
    table = pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema)
    config = {"path": "p.csv", "delimiter": delimiter}
    CsvWriter().write(ctx_for(tmp_path, **config, newline=newline), table.to_reader(max_chunksize=7))
    overrides = {"s": "string", "i": "int64", "d": "decimal128(12,2)"}
    back = CsvExtractor().extract(ctx_for(tmp_path, **config, schema=overrides)).read_all()
    assert back.to_pylist() == table.to_pylist()
