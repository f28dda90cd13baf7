"""One backoff formula (runtime/backoff.py): delays double from the base up to the cap, and `retry`
counts attempts in all and retries only transient errors."""

from __future__ import annotations

import pytest

from osiris.runtime.backoff import backoff_delay, retry


def test_backoff_delay_doubles_from_base_and_stops_at_the_cap() -> None:
    assert [backoff_delay(0.5, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [backoff_delay(1.0, n, 30.0) for n in (1, 5, 6, 7)] == [1.0, 16.0, 30.0, 30.0]
    assert backoff_delay(1.0, 0) == 1.0 and backoff_delay(-1.0, 3) == 0.0 and backoff_delay(0, 9, 5) == 0.0


def test_retry_counts_attempts_in_all_and_only_retries_transient_errors() -> None:
    calls, sleeps, seen = [], [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    result = retry(
        flaky,
        lambda e: isinstance(e, ConnectionError),
        attempts=3,
        base=1.0,
        cap=1.5,
        sleep=sleeps.append,
        on_retry=lambda n, e, d: seen.append((n, str(e), d)),
    )
    assert result == "ok" and sleeps == [1.0, 1.5] and seen == [(1, "reset", 1.0), (2, "reset", 1.5)]

    calls.clear()
    sleeps.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: True, attempts=2, base=0.1, sleep=sleeps.append)
    assert len(calls) == 2 and sleeps == [0.1]

    calls.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: False, attempts=5, base=0.1, sleep=sleeps.append)
    assert len(calls) == 1

    calls.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: True, attempts=0, base=0.1, sleep=sleeps.append)  # still called once
    assert len(calls) == 1
