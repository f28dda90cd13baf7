"""osiris.drivers.common.metered: the shared per-batch loop (limit, cancellation, progress, clean-up)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from osiris.drivers.common import metered


class _Ctx:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.progress_calls: list[tuple[int, int]] = []
        self.checks = 0
        self.cancel_after = cancel_after

    def check_cancelled(self) -> None:
        self.checks += 1
        if self.cancel_after is not None and self.checks > self.cancel_after:
            raise KeyboardInterrupt

    def progress(self, rows: int, nbytes: int) -> None:
        self.progress_calls.append((rows, nbytes))


def _batch(n: int) -> pa.RecordBatch:
    return pa.record_batch({"x": pa.array(range(n), pa.int64())})


def test_limit_slices_last_batch_and_stops_reading() -> None:
    read: list[int] = []
    closed: list[bool] = []

    def source():
        for n in (3, 0, 4, 5):
            read.append(n)
            yield _batch(n)

    ctx = _Ctx()
    out = list(metered(ctx, source(), limit=5, on_close=lambda: closed.append(True)))
    assert [b.num_rows for b in out] == [3, 2]
    assert read == [3, 0, 4]  # the batch after the limit is never read
    assert [rows for rows, _ in ctx.progress_calls] == [3, 5]
    assert closed == [True]


def test_no_limit_skips_empty_batches() -> None:
    ctx = _Ctx()
    out = list(metered(ctx, iter([_batch(2), _batch(0), _batch(1)])))
    assert [b.num_rows for b in out] == [2, 1]
    assert ctx.progress_calls[-1][0] == 3


def test_cancellation_closes_source() -> None:
    closed: list[str] = []

    def source():
        try:
            while True:
                yield _batch(1)
        finally:
            closed.append("source")

    gen = metered(_Ctx(cancel_after=2), source(), on_close=lambda: closed.append("on_close"))
    with pytest.raises(KeyboardInterrupt):
        list(gen)
    assert closed == ["source", "on_close"]
