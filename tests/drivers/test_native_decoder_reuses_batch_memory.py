"""The COPY decoder's buffer cache (drivers/postgres/pgcopy_pool.c): batches reuse memory, boundedly.

Each batch's column buffers go to pyarrow; when pyarrow lets go of them they come back to a cache
the next batches reserve from, so a long read writes into memory already mapped instead of
faulting in (and zeroing) fresh pages for every batch. What must hold: a batch reserves from the
cache once earlier batches are released; what comes out of a reused buffer is exactly the new
rows (nothing of the old batch shows through); the cache stays within its bounds; and once no
decoder is alive it is emptied, so a process that read once keeps no memory for it.
"""

from __future__ import annotations

import gc

import pytest

from osiris.drivers.postgres.native_plan import plan, to_batch
from tests.support.pgcopy import HEADER, TRAILER, encode_value, require_decoder, tuple_bytes

POOL_BYTES = 64 << 20
POOL_BLOCKS = 256
ROWS = 40_000  # 320 KB of int8 values per batch: above the cache's 64 KiB floor


@pytest.fixture(scope="module")
def pgcopy():
    return require_decoder()


def _native():
    native = plan([("id", 20, -1), ("note", 25, -1)])
    assert native is not None
    return native


def _rows(start: int, count: int) -> bytes:
    return b"".join(
        tuple_bytes([encode_value("INT8", i), None if i % 5 == 0 else encode_value("TEXT", f"row {i} " + "x" * (i % 30))])
        for i in range(start, start + count))


def _batch(decoder, native, start: int):
    decoder.feed(_rows(start, ROWS))
    rows, buffers = decoder.take()
    assert rows == ROWS
    return to_batch(native, rows, buffers)


def _expected(start: int) -> tuple[list, list]:
    ids = list(range(start, start + ROWS))
    notes = [None if i % 5 == 0 else f"row {i} " + "x" * (i % 30) for i in ids]
    return ids, notes


def test_released_batches_are_reused_and_hold_only_the_new_rows(pgcopy) -> None:
    native = _native()
    decoder = pgcopy.Decoder(native.kinds, ROWS)
    decoder.feed(HEADER)
    first = _batch(decoder, native, 0)
    address = first.column(0).buffers()[1].address
    _, _, served_before = pgcopy.pool_stats()
    del first
    gc.collect()
    blocks, held, _ = pgcopy.pool_stats()
    assert blocks >= 2 and held >= ROWS * 8  # the id values and the text bytes at least
    second = _batch(decoder, native, ROWS)
    _, _, served_after = pgcopy.pool_stats()
    assert served_after - served_before >= 2
    assert second.column(0).buffers()[1].address == address  # the id values landed in the first batch's block
    second.validate(full=True)
    ids, notes = _expected(ROWS)
    assert second.column(0).to_pylist() == ids and second.column(1).to_pylist() == notes
    decoder.feed(TRAILER)
    decoder.finish()


def test_the_cache_is_bounded_and_emptied_when_no_decoder_is_left(pgcopy) -> None:
    native = _native()
    decoder = pgcopy.Decoder(native.kinds, ROWS)
    decoder.feed(HEADER)
    batches = [_batch(decoder, native, i * ROWS) for i in range(12)]
    for index, batch in enumerate(batches):  # what was handed out is intact while it is alive
        ids, notes = _expected(index * ROWS)
        assert batch.column(0).to_pylist()[:3] == ids[:3] and batch.column(1).to_pylist()[-3:] == notes[-3:]
    del batches, batch
    gc.collect()
    blocks, held, _ = pgcopy.pool_stats()
    assert 0 < blocks <= POOL_BLOCKS and 0 < held <= POOL_BYTES
    del decoder
    gc.collect()
    assert pgcopy.pool_stats()[:2] == (0, 0)


def test_a_buffer_released_after_its_decoder_is_freed_not_cached(pgcopy) -> None:
    native = _native()
    decoder = pgcopy.Decoder(native.kinds, ROWS)
    decoder.feed(HEADER)
    survivor = _batch(decoder, native, 0)
    del decoder
    gc.collect()
    assert pgcopy.pool_stats()[:2] == (0, 0)
    assert survivor.column(0).to_pylist() == list(range(ROWS))
    del survivor
    gc.collect()
    assert pgcopy.pool_stats()[:2] == (0, 0)
