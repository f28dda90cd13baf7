"""The transport's retries keep their documented counting on runtime.backoff: `attempts` counts
every call, waits double without a cap, one attempt means no retry."""

from __future__ import annotations

import pytest

from osiris.runtime.e2b.host.transport import ConnectionLost, TransportError, with_retries


def test_with_retries_counts_attempts_in_all_and_does_not_cap() -> None:
    sleeps: list[float] = []
    seen: list[tuple[int, str, float]] = []
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise ConnectionLost("stream reset", transient=True, hint="try again")

    with pytest.raises(ConnectionLost, match=r"^stream reset \(gave up after 5 attempts\)$") as caught:
        with_retries(
            flaky,
            what="upload",
            attempts=5,
            backoff_s=10.0,
            sleep=sleeps.append,
            on_retry=lambda n, e, d: seen.append((n, str(e), d)),
        )
    assert len(calls) == 5 and sleeps == [10.0, 20.0, 40.0, 80.0]  # no cap, unlike the LLM client
    assert [n for n, _, _ in seen] == [1, 2, 3, 4] and caught.value.hint == "try again" and caught.value.transient


def test_with_retries_single_attempt_and_eventual_success() -> None:
    sleeps: list[float] = []

    def once() -> None:
        raise TransportError("busy", transient=True)

    with pytest.raises(TransportError, match="^busy$"):  # one attempt: nothing to give up on
        with_retries(once, what="create", attempts=1, backoff_s=0.5, sleep=sleeps.append)
    assert sleeps == []

    answers = iter([TransportError("busy", transient=True), "sandbox"])

    def second_time() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(second_time, what="create", attempts=3, backoff_s=0.5, sleep=sleeps.append) == "sandbox"
    assert sleeps == [0.5]
