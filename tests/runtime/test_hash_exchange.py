"""split_by_hash: equal key values meet in one bucket whatever their type, every row lands in exactly
one bucket, buckets keep the schema and the input order, and the split is the same in every process."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.runtime.driver import DriverError
from osiris.runtime.ray.exchange import split_by_hash

BUCKETS = 7


def _bucket_of(table: pa.Table, keys: list[str], buckets: int = BUCKETS) -> list[int]:
    """The bucket of each row (by a row-id column carried along)."""
    tagged = table.append_column("_id", pa.array(range(table.num_rows), pa.int64()))
    where = [0] * table.num_rows
    for b, part in enumerate(split_by_hash(tagged, keys, buckets)):
        for i in part.column("_id").to_pylist():
            where[i] = b
    return where


@pytest.mark.parametrize(
    "columns",
    [
        [
            pa.array([5, 0, -3, None], pa.int8()),
            pa.array([5, 0, -3, None], pa.int64()),
            pa.array([5, 0, -3, None], pa.int16()),
            pa.array([Decimal("5.00"), Decimal("0"), Decimal("-3.0"), None], pa.decimal128(6, 2)),
            pa.array([5.0, -0.0, -3.0, None], pa.float64()),
            pa.array([5.0, 0.0, -3.0, None], pa.float32()),
        ],
        [
            pa.array(["a", "", "ü", None], pa.string()),
            pa.array(["a", "", "ü", None], pa.large_string()),
            pa.array(["a", "", "ü", None]).dictionary_encode(),
        ],
        [
            pa.array([dt.date(2024, 1, 2), None], pa.date32()),
            pa.array([dt.datetime(2024, 1, 2), None], pa.timestamp("us")),
            pa.array([dt.datetime(2024, 1, 2), None], pa.timestamp("ns")),
            pa.array([dt.datetime(2024, 1, 2, tzinfo=dt.UTC), None], pa.timestamp("ms", tz="UTC")),
        ],
    ],
    ids=["numbers", "strings", "dates"],
)
def test_equal_values_land_in_the_same_bucket_across_types(columns: list[pa.Array]) -> None:
    placements = [_bucket_of(pa.table({"k": column}), ["k"]) for column in columns]
    assert all(p == placements[0] for p in placements), placements


def test_distinct_values_do_spread() -> None:
    """Guards the test above: a constant bucket would pass it."""
    assert len(set(_bucket_of(pa.table({"k": list(range(100))}), ["k"]))) == BUCKETS


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.text(max_size=2))), max_size=40
    ),
    buckets=st.integers(1, 6),
)
def test_every_row_in_exactly_one_bucket_in_order_with_the_schema(rows: list[tuple], buckets: int) -> None:
    table = pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.int16()),
            "s": pa.array([r[1] for r in rows], pa.string()),
            "_id": pa.array(range(len(rows)), pa.int64()),
        }
    )
    parts = split_by_hash(table, ["k", "s"], buckets)
    assert len(parts) == buckets
    assert all(part.schema == table.schema for part in parts)
    ids = [part.column("_id").to_pylist() for part in parts]
    assert all(i == sorted(i) for i in ids)  # input order within a bucket
    assert sorted(x for i in ids for x in i) == list(range(len(rows)))
    seen: dict[tuple, int] = {}
    for b, part in enumerate(parts):
        for key in zip(part.column("k").to_pylist(), part.column("s").to_pylist(), strict=True):
            assert seen.setdefault(key, b) == b  # equal keys (NULLs too) share one bucket


def test_the_split_is_the_same_in_another_process() -> None:
    code = (
        "import json, pyarrow as pa\n"
        "from osiris.runtime.ray.exchange import split_by_hash\n"
        "t = pa.table({'k': list(range(50)), 's': [str(i) for i in range(50)]})\n"
        "print(json.dumps([p.column('k').to_pylist() for p in split_by_hash(t, ['k', 's'], 5)]))\n"
    )
    other = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    here = split_by_hash(pa.table({"k": list(range(50)), "s": [str(i) for i in range(50)]}), ["k", "s"], 5)
    assert other == [p.column("k").to_pylist() for p in here]


def test_empty_table_gives_empty_buckets_with_the_schema() -> None:
    table = pa.table({"k": pa.array([], pa.int32()), "v": pa.array([], pa.string())})
    parts = split_by_hash(table, ["k"], 3)
    assert [p.num_rows for p in parts] == [0, 0, 0]
    assert all(p.schema == table.schema for p in parts)


def test_a_missing_key_column_is_a_clear_error() -> None:
    with pytest.raises(DriverError, match="not in the input"):
        split_by_hash(pa.table({"k": [1]}), ["id"], 2)


def test_key_names_match_columns_case_insensitively_like_sql() -> None:
    table = pa.table({"country": ["a", "b", "a", "c"]})
    assert split_by_hash(table, ["Country"], 3) == split_by_hash(table, ["country"], 3)
