"""A producer thread's CPU priority below its consumer's, so a bounded pipeline drains first.

A read that decodes on threads of its own (the PostgreSQL page-range readers) feeds a consumer
(the Parquet encode) through bounded queues. Under equal priority the scheduler gives every
runnable thread the same share, so on a busy machine the slower consumer falls behind, the
queues fill, the readers block, the database's backends block behind them, and cores sit idle
while the consumer catches up alone. With the readers a few nice levels below, the consumer runs
whenever it has work and the readers fill every gap it leaves; nothing waits on a full queue.
Measured on 2 cores (docs/performance.md, "Readers below the encoder"): PostgreSQL -> Parquet
6% faster at 3M rows and 9% at 10M, with less peak RSS.

Only raising a thread's nice value is allowed without privileges, and it cannot be undone, so
this is for threads that end with their read. Linux only: there a thread's nice value is its
own (setpriority on its thread id); elsewhere the same call would renice the whole process, so
nothing is done.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["READER_NICE", "lower_this_thread"]

READER_NICE = 10
"""Nice levels the readers sit below their consumer: each level is ~1.25x less CPU weight, so
10 gives the consumer ~9x the readers' share when both want a core; the readers still take any
core the consumer leaves (nice 5 gained about half as much; 19 no more than 10)."""


def lower_this_thread(levels: int = READER_NICE) -> None:
    """Raise the calling thread's nice value by `levels` (at most 19); best effort, never raises."""
    if not sys.platform.startswith("linux") or levels <= 0:
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + levels))
    except OSError:  # a sandbox that forbids it: the read still works, only without the gain
        pass
