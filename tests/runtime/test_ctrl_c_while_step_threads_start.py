"""Ctrl-C while the step threads start cancels the run and still starts every thread (so each ends
its step); a second Ctrl-C stops waiting."""

from __future__ import annotations

import pytest


def test_ctrl_c_while_step_threads_start_cancels_and_still_starts_every_thread():
    import threading

    from osiris.runtime.local.executor import _start

    class Interrupted(threading.Thread):
        calls = 0

        def start(self) -> None:
            Interrupted.calls += 1
            if Interrupted.calls == 1:
                raise KeyboardInterrupt  # before the thread existed
            super().start()

    ran: list[int] = []
    threads = [Interrupted(target=ran.append, args=(1,)), threading.Thread(target=ran.append, args=(2,))]
    cancel = threading.Event()
    _start(threads, cancel)
    for thread in threads:
        thread.join(5)
    assert cancel.is_set() and sorted(ran) == [1, 2]
    Interrupted.calls = 0
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C (the run is cancelled already) stops waiting
        _start([Interrupted(target=ran.append, args=(3,))], cancel)
