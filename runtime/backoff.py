"""Exponential backoff: one formula for every retry loop in the project.

The delay before attempt *n + 1* (after attempt *n* failed, n counted from 1) is

    min(base * 2 ** (n - 1), cap)

so with base 1 s the waits are 1, 2, 4, ... seconds; `cap=None` leaves them unbounded. Callers
differ in how they *count* (the step retry policy and the sandbox transport take a number of
attempts, the LLM client a number of retries after the first attempt) and in what they retry;
that stays with them. They share this formula, and `retry` for the plain "call, and on a
transient error wait and call again" loop.

Standard library only, no project imports. It lives in the runtime, the lowest layer that retries
(step retry policies, the sandbox transport); llm's client sits above and imports it from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["backoff_delay", "retry"]

T = TypeVar("T")


def backoff_delay(base: float, attempt: int, cap: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 = the first attempt).

    `base * 2 ** (attempt - 1)`, at most `cap` (None: no cap). Never negative; an `attempt`
    below 1 is treated as 1.
    """
    delay = max(0.0, float(base)) * 2.0 ** (max(1, int(attempt)) - 1)
    return delay if cap is None else min(delay, max(0.0, float(cap)))


def retry(
    action: Callable[[], T],
    is_transient: Callable[[BaseException], bool],
    *,
    attempts: int,
    base: float,
    cap: float | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> T:
    """Call `action` up to `attempts` times in all (at least once) and return its result.

    An exception for which `is_transient` is true is retried after `backoff_delay(base, n, cap)`
    (`on_retry(n, error, delay)` is called first, n being the attempt that failed); any other
    exception, and the one raised by the last attempt, propagates unchanged.
    """
    total = max(1, attempts)
    attempt = 1
    while True:
        try:
            return action()
        except Exception as error:
            if attempt >= total or not is_transient(error):
                raise
            delay = backoff_delay(base, attempt, cap)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
            attempt += 1
