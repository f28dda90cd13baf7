"""The cursor rules themselves (runtime/incremental.py), on Arrow data: windows, ties, NULLs,
lookback, exact values of every cursor type, and the state's round trip through JSON."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from osiris.runtime.driver import DriverError
from osiris.runtime.incremental import CursorState, CursorTracker, IncrementalSpec, in_window, window


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Nanosecond timestamps as integers (datetime cannot hold them)."""
    columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) and c.type.unit == "ns" else c
               for c in batch.columns]
    return pa.record_batch(columns, names=batch.schema.names)


def _read(spec: IncrementalSpec, previous: CursorState | None, *batches: pa.RecordBatch) -> tuple[list, CursorState]:
    """What a run reads: the window applied as a file driver applies it, then the tracker."""
    tracker = CursorTracker(spec, previous, "src")
    bound = window(spec, previous)
    schema = batches[0].schema
    narrowed = [in_window(b, bound) if b.schema.get_field_index(spec.cursor) >= 0 else b for b in batches]
    out = tracker.wrap(pa.RecordBatchReader.from_batches(schema, narrowed))
    rows = [r for b in out for r in _plain(b).to_pylist()]
    state = CursorState.from_json(tracker.result().to_json())
    return rows, state


@pytest.mark.parametrize("kind, values", [
    (pa.int64(), [0, -5, 3]),
    (pa.decimal128(20, 6), [Decimal("0.000001"), Decimal("-1.5"), Decimal("99999999999999.999999")]),
    (pa.date32(), [date(1970, 1, 1), date(1969, 12, 31), date(2026, 2, 28)]),
    (pa.timestamp("us"), [datetime(1970, 1, 1), datetime(2026, 1, 1, 0, 0, 0, 1)]),
    (pa.timestamp("us", tz="UTC"), [datetime(1970, 1, 1, tzinfo=timezone.utc),
                                    datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))]),
    (pa.timestamp("ns", tz="UTC"), [1, 1_767_225_600_000_000_001]),
    (pa.string(), ["", "b", "ä"]),
], ids=lambda v: str(v)[:20])
def test_every_cursor_type_keeps_its_exact_maximum(kind: pa.DataType, values: list) -> None:
    batch = pa.record_batch([pa.array(values, kind)], names=["c"])
    rows, state = _read(IncrementalSpec("c"), None, batch)
    assert len(rows) == len(values)
    expected = pa.array(values, kind)
    top = max(expected.cast(pa.int64()).to_pylist()) if kind == pa.timestamp("ns", tz="UTC") else max(values)
    assert state.value == top, (state.value, top)
    again, _ = _read(IncrementalSpec("c"), state, batch)
    assert again == [], "nothing past the maximum"


def test_ties_at_the_maximum_are_not_missed_and_not_loaded_twice() -> None:
    spec = IncrementalSpec("v", ">=")
    first = pa.record_batch({"id": [1, 2], "v": [5, 5]})
    _, state = _read(spec, None, first)
    assert len(state.boundary) == 2
    later = pa.record_batch({"id": [1, 2, 3, 2], "v": [5, 5, 5, 5]})
    later = later.filter(pa.array([True, True, True, False]))
    rows, state = _read(spec, state, later)
    assert rows == [{"id": 3, "v": 5}] and len(state.boundary) == 3
    changed = pa.record_batch({"id": [1], "v": [5]}).append_column("x", pa.array(["edited"]))
    rows, _ = _read(spec, CursorState("v", "int", 5, "src", frozenset()), changed)
    assert rows == [{"id": 1, "v": 5, "x": "edited"}]


def test_null_cursors_are_read_and_counted_not_skipped() -> None:
    batch = pa.record_batch({"v": pa.array([None, 1, None], pa.int64())})
    rows, state = _read(IncrementalSpec("v"), None, batch)
    assert len(rows) == 3 and state.null_rows == 2 and state.value == 1
    bound = window(IncrementalSpec("v"), state)
    assert in_window(batch, bound).num_rows == 2, "NULL rows stay in every window"


def test_lookback_moves_the_window_back_and_never_the_state() -> None:
    spec = IncrementalSpec("t", lookback=timedelta(hours=2))
    stored = CursorState("t", "timestamptz", datetime(2026, 1, 1, 12, tzinfo=timezone.utc), "src")
    bound = window(spec, stored)
    assert (bound.op, bound.value) == (">=", datetime(2026, 1, 1, 10, tzinfo=timezone.utc))
    late = pa.record_batch({"t": pa.array([datetime(2026, 1, 1, 11, tzinfo=timezone.utc)], pa.timestamp("us", "UTC"))})
    _, state = _read(spec, stored, late)
    assert state.value == stored.value, "a late row below the maximum does not move it back"
    days = window(IncrementalSpec("d", lookback=timedelta(days=3)), CursorState("d", "date", date(2026, 3, 1), "s"))
    assert days.value == date(2026, 2, 26)


def test_a_cursor_that_changed_type_or_cannot_order_is_refused() -> None:
    stored = CursorState("c", "int", 5, "src")
    with pytest.raises(DriverError, match="was a int when the state was recorded and is a string"):
        _read(IncrementalSpec("c"), stored, pa.record_batch({"c": ["x"]}))
    with pytest.raises(DriverError, match="cannot order changes"):
        _read(IncrementalSpec("c"), None, pa.record_batch({"c": pa.array([[1]], pa.list_(pa.int64()))}))
    with pytest.raises(DriverError, match="is not a column"):
        _read(IncrementalSpec("c"), None, pa.record_batch({"other": [1]}))


def test_a_read_that_did_not_finish_cannot_commit() -> None:
    tracker = CursorTracker(IncrementalSpec("v"), None, "src")
    reader = tracker.wrap(pa.RecordBatchReader.from_batches(pa.schema([("v", pa.int64())]),
                                                            [pa.record_batch({"v": [1]})] * 2))
    reader.read_next_batch()
    with pytest.raises(DriverError, match="did not reach its end"):
        tracker.result()


@given(values=st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=1, max_size=30),
       cut=st.integers(0, 30), strategy=st.sampled_from([">", ">="]))
def test_two_reads_of_an_append_only_source_load_each_row_once(values: list, cut: int, strategy: str) -> None:
    """Rows arrive in cursor order (ties and NULLs allowed); reading part, then all, loads every
    non-NULL row exactly once with `>=`, and with `>` misses only ties of the first maximum."""
    ordered = sorted(v for v in values if v is not None)
    nulls = [v for v in values if v is None]
    first_part = ordered[: min(cut, len(ordered))]
    spec = IncrementalSpec("v", strategy)
    batch = lambda vs: pa.record_batch({"id": list(range(len(vs))), "v": pa.array(vs, pa.int64())})  # noqa: E731
    loaded, state = _read(spec, None, batch(first_part)) if first_part else ([], None)
    more, _ = _read(spec, state, batch(ordered + nulls))
    non_null = [r for r in loaded + more if r["v"] is not None]
    if strategy == ">=" or state is None:
        assert sorted(r["v"] for r in non_null) == ordered
    else:
        top = state.value
        assert sorted(r["v"] for r in non_null) == sorted(first_part + [v for v in ordered[len(first_part):] if v > top])
