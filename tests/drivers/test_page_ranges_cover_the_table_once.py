"""How a PostgreSQL table read is cut into heap page ranges (drivers/postgres/native_stream.py).

The ranges must cover every page exactly once, in order, the last one open-ended (rows on pages the
size did not count are still read); they shrink towards the end so the connections finish
together, yet stay few (each is a query). The WHERE clauses hold page numbers only.
"""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from osiris.drivers.postgres.native_stream import MIN_RANGE_PAGES, PageRanges


@given(st.integers(0, 5_000_000), st.integers(1, 8))
def test_the_ranges_cover_every_page_once_in_order(pages, readers):
    bounds = list(PageRanges(pages, readers).bounds())
    assert bounds[0][0] == 0
    assert bounds[-1][1] is None
    for (start, end), (following, _) in zip(bounds, bounds[1:], strict=False):
        assert end is not None and start < end == following
    lengths = [end - start for start, end in bounds[:-1]]
    assert all(length >= MIN_RANGE_PAGES for length in lengths)
    assert lengths == sorted(lengths, reverse=True)  # long ranges first, short ones last
    assert len(bounds) <= 2 * readers * (math.log(pages / MIN_RANGE_PAGES + 1) + 1) + 1


@given(st.integers(4 * MIN_RANGE_PAGES, 5_000_000), st.integers(1, 8))
def test_the_last_ranges_are_short(pages, readers):
    """What one connection may still read when the other has nothing left: at most a small range."""
    bounds = list(PageRanges(pages, readers).bounds())
    last_closed = bounds[-2][1] - bounds[-2][0]
    assert last_closed <= max(MIN_RANGE_PAGES, pages // 8)
    assert pages - bounds[-1][0] <= MIN_RANGE_PAGES


def test_a_table_under_one_range_is_one_query_without_a_condition():
    assert list(PageRanges(MIN_RANGE_PAGES, 2).clauses()) == [""]


def test_the_clauses_hold_page_numbers_only():
    clauses = list(PageRanges(10 * MIN_RANGE_PAGES, 2).clauses())
    assert clauses[0] == f" WHERE ctid < '({clauses[1].split('(')[1].split(',')[0]},0)'::tid"
    for clause in clauses:
        assert re.fullmatch(r"( WHERE ctid (>=|<) '\(\d+,0\)'::tid( AND ctid < '\(\d+,0\)'::tid)?)?", clause)
    assert clauses[-1].startswith(" WHERE ctid >= ") and " AND " not in clauses[-1]
