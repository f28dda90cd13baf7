"""A producer thread lowers its own CPU priority, never its consumer's, and never fails a read.

drivers/common/priority.py raises the calling thread's nice value (Linux: per thread), capped at 19;
the PostgreSQL reader threads call it (test_native_copy_decoder_matches_adbc.py checks them on a
real read).
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

from osiris.drivers.common import priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def _nice_of(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def _in_a_thread(*calls: int) -> int:
    """Run lower_this_thread(levels) for each of `calls` on a fresh thread; that thread's nice after."""
    seen: list[int] = []

    def body() -> None:
        for levels in calls:
            priority.lower_this_thread(levels)
        seen.append(_nice_of(threading.get_native_id()))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen[0]


def test_only_the_calling_thread_is_lowered():
    mine = _nice_of(threading.get_native_id())
    assert _in_a_thread(priority.READER_NICE) == min(19, mine + priority.READER_NICE)
    assert _nice_of(threading.get_native_id()) == mine
    assert _nice_of(os.getpid()) == mine  # the process (its main thread) is untouched too


def test_the_nice_value_stops_at_19():
    assert _in_a_thread(15, 15) == 19


def test_nothing_or_less_than_nothing_changes_nothing():
    mine = _nice_of(threading.get_native_id())
    assert _in_a_thread(0, -5) == mine


def test_a_refused_call_is_not_an_error(monkeypatch):
    def refuse(*args):
        raise PermissionError("sandboxed")

    monkeypatch.setattr(priority.os, "setpriority", refuse)
    priority.lower_this_thread()  # no exception: the read goes on at the same priority
