"""uuid and json columns (as the Postgres driver produces them) survive the file writers."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from osiris.drivers.files.csv_writer import CsvWriter
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.testing import RecordingContext

VALUE = uuid.UUID("12345678-1234-5678-1234-567812345678")
TABLE = pa.table({
    "u": pa.array([VALUE.bytes, None], type=pa.uuid()),
    "j": pa.array(['{"a": 1}', None], type=pa.json_()),
})
CSV = {"path": "x.csv", "delimiter": ",", "quotechar": '"', "quoting": "minimal", "header": True,
       "encoding": "utf-8", "newline": "lf", "compression": "none", "create_dirs": True, "overwrite": True}


def test_csv_writes_uuid_as_canonical_text_and_json_as_text(tmp_path: Path) -> None:
    CsvWriter().write(RecordingContext(config=CSV, work_dir=tmp_path), TABLE.to_reader())
    assert (tmp_path / "x.csv").read_text() == (
        'u,j\n"12345678-1234-5678-1234-567812345678","{""a"": 1}"\n,\n')


def test_parquet_keeps_the_extension_types(tmp_path: Path) -> None:
    config = {"path": "x.parquet", "compression": "zstd", "row_group_size": 100000,
              "create_dirs": True, "overwrite": True}
    ParquetWriter().write(RecordingContext(config=config, work_dir=tmp_path), TABLE.to_reader())
    assert pq.read_table(tmp_path / "x.parquet").equals(TABLE)
