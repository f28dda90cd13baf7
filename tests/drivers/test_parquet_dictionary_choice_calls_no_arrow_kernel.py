"""The Parquet writer chooses dictionary encoding per column from the first rows without calling
an Arrow compute kernel: the first kernel call of a process builds Arrow's whole function
registry (~60 ms and ~38 MB of RSS), which a database -> Parquet run paid for one count.

`few_distinct` must agree with Arrow's own `count_distinct` on every type it reads (nulls,
slices, several chunks), and say "cannot tell" (None) for the others, which keep pyarrow's default.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.drivers.common.arrow_types import few_distinct

_SMALL = st.integers(-3, 3)
TYPES = {
    "int8": (pa.int8(), _SMALL),
    "int16": (pa.int16(), st.integers(-(2**15), 2**15 - 1)),
    "int32": (pa.int32(), _SMALL),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "float64": (pa.float64(), st.floats(allow_nan=False).map(lambda x: x + 0.0)),  # no -0.0
    "float32": (pa.float32(), st.sampled_from([0.5, 1.5, -2.0, 1e30])),
    "date32": (pa.date32(), st.dates(dt.date(1970, 1, 1), dt.date(1970, 1, 5))),
    "timestamp": (pa.timestamp("us", tz="UTC"), st.datetimes(timezones=st.just(dt.UTC))),
    "decimal128": (pa.decimal128(12, 2), st.integers(-5, 5).map(lambda n: Decimal(n) / 100)),
    "decimal128 wide": (pa.decimal128(38, 0), st.integers(-(10**37), 10**37).map(Decimal)),
    "decimal256": (pa.decimal256(40, 1), st.integers(-5, 5).map(Decimal)),
    "string": (pa.string(), st.text(max_size=3)),
    "large_string": (pa.large_string(), st.sampled_from(["", "a", "Zoë", "ab"])),
    "binary": (pa.binary(), st.binary(max_size=2)),
    "fixed_size_binary": (pa.binary(3), st.binary(min_size=3, max_size=3)),
}


@st.composite
def columns(draw):
    name = draw(st.sampled_from(sorted(TYPES)))
    type_, values = TYPES[name]
    chunks = []
    for _ in range(draw(st.integers(1, 3))):
        chunk = pa.array(draw(st.lists(st.one_of(st.none(), values), max_size=40)), type_)
        start = draw(st.integers(0, len(chunk)))
        chunks.append(chunk.slice(start, draw(st.integers(0, len(chunk) - start))))
    return pa.chunked_array(chunks, type_)


@settings(max_examples=400)
@given(columns(), st.integers(0, 60))
def test_few_distinct_agrees_with_arrow_s_count(column, limit):
    assert few_distinct(column, limit) == (pc.count_distinct(column).as_py() <= limit)


def test_a_long_column_is_decided_block_by_block():
    ids = pa.chunked_array([pa.array(range(100_000), pa.int64())])
    assert few_distinct(ids, 50_000) is False
    assert few_distinct(pa.chunked_array([pa.array([i % 7 for i in range(100_000)], pa.int64())]), 50_000) is True
    assert few_distinct(pa.chunked_array([pa.array([i % 7 for i in range(100_000)], pa.int64())]), 6) is False


def test_types_it_does_not_read_are_left_to_pyarrow():
    for column in (pa.array([True, False]), pa.array(["a", "a"]).dictionary_encode(), pa.array([[1], [2]])):
        assert few_distinct(pa.chunked_array([column]), 5) is None


def _encodings(path: Path) -> dict[str, bool]:
    """Column -> whether its first row group is dictionary encoded."""
    meta = pq.ParquetFile(path).metadata.row_group(0)
    return {meta.column(i).path_in_schema: "RLE_DICTIONARY" in meta.column(i).encodings or
            "PLAIN_DICTIONARY" in meta.column(i).encodings for i in range(meta.num_columns)}


SCRIPT = """
import sys
from pathlib import Path
from decimal import Decimal
import pyarrow as pa
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.testing import RecordingContext
n = 20000
table = pa.table({
    "id": pa.array(range(n), pa.int64()),
    "qty": pa.array([i % 10 for i in range(n)], pa.int32()),
    "amount": pa.array([Decimal(i) / 100 for i in range(n)], pa.decimal128(12, 2)),
    "price": pa.array([Decimal(i % 5) for i in range(n)], pa.decimal128(12, 2)),
    "name": pa.array([f"name {i}" for i in range(n)]),
    "country": pa.array([None if i % 3 else ["CZ", "DE"][i % 2] for i in range(n)]),
    "active": pa.array([i % 2 == 0 for i in range(n)]),
})
ctx = RecordingContext(config={"path": "out.parquet"}, work_dir=Path(sys.argv[1]), mode="write",
                       component="filesystem.parquet_writer")
ParquetWriter().write(ctx, table.to_reader(max_chunksize=3000))
print("pyarrow._compute" in sys.modules)
"""


def test_the_writer_keeps_dictionaries_for_repeating_columns_without_a_kernel(tmp_path: Path):
    out = tmp_path / "out.parquet"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip() == "False", "Arrow's function registry was built"
    chosen = _encodings(out)
    del chosen["active"]  # booleans are left to pyarrow (Parquet has no dictionary for them)
    assert chosen == {"id": False, "qty": True, "amount": False, "price": True, "name": False, "country": True}
