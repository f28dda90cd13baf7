"""The per-batch loop every extractor runs: cancellation, `limit`, progress, clean-up.

Drivers produce their batches (translating their own read errors) and hand them to
`metered`, so cancellation, limits and progress reporting behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

__all__ = ["metered"]


def metered(
    ctx: Any,
    batches: Iterable[pa.RecordBatch],
    *,
    limit: int | None = None,
    on_close: Callable[[], Any] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Pass `batches` through: check cancellation before each read, stop at exactly `limit` rows
    (the last batch sliced), skip empty batches and report cumulative `ctx.progress(rows, nbytes)`.

    When the consumer is done (exhausted, stopped early, failed or dropped the generator) the
    source generator is closed and `on_close` runs. `ctx` may be None (no cancellation, no
    progress), for internal reads such as discovery samples.
    """
    source = iter(batches)
    rows = nbytes = 0
    try:
        while limit is None or rows < limit:
            if ctx is not None:
                ctx.check_cancelled()
            try:
                batch = next(source)
            except StopIteration:
                return
            if limit is not None and rows + batch.num_rows > limit:
                batch = batch.slice(0, limit - rows)
            if not batch.num_rows:
                continue
            rows += batch.num_rows
            nbytes += batch.nbytes
            if ctx is not None:
                ctx.progress(rows, nbytes)
            yield batch
    finally:
        try:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        finally:
            if on_close is not None:
                on_close()
