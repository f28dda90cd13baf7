"""Resident memory of this process, sampled while steps run to report each step's peak.

Steps share one process, so a step's `peak_rss_mb` is the process's peak resident memory
while that step was running: an upper bound on what the step itself used.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Callable, Iterable

__all__ = ["RssSampler", "current_rss_bytes", "peak_rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the peak, the best we have)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class RssSampler:
    """Every `interval` seconds, raise `peak_rss_bytes` of every running step's state."""

    def __init__(self, running: Callable[[], Iterable], interval: float = 0.05) -> None:
        self._running = running
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            rss = current_rss_bytes()
            for state in self._running():
                if rss > state.peak_rss_bytes:
                    state.peak_rss_bytes = rss
