"""SIGTERM handled like Ctrl-C, for every command line tool.

Service managers, CI runners and `timeout` stop a process with SIGTERM, whose default action
kills it on the spot: no `finally`, so a run stayed `running`, chat lost its session and temp
files stayed behind. Each CLI calls `terminate_as_interrupt()` first: the first SIGTERM then
raises `Terminated` (a KeyboardInterrupt) in the main thread, so exactly the code that
handles Ctrl-C runs, and the tool exits 143 (128 + SIGTERM) instead of 130. A command with
its own cancellation (`osiris run` sets its cancel event) installs its own handler and asks
`exit_code()` which signal it got. A second signal while cleaning up exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

__all__ = ["EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated", "exit_code", "on_stop_signals",
           "terminate_as_interrupt"]

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

_received: list[int] = []
"""Stop signals received by this process, in order (a list: set from a signal handler)."""


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM: handled like Ctrl-C, exits 143."""


def exit_code() -> int:
    """143 when the first stop signal was SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_TERMINATED if _received[:1] == [signal.SIGTERM] else EXIT_INTERRUPTED


def _exit_now(signum: int) -> None:
    try:
        sys.stderr.write("\nstopped without cleaning up (second signal)\n")
    except (OSError, RuntimeError):  # stderr gone, or we interrupted a write to it
        pass
    os._exit(128 + signum)


def terminate_as_interrupt() -> None:
    """Make SIGTERM raise Terminated in the main thread (no-op elsewhere: signals need it)."""

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        if _received:
            _exit_now(signum)
        _received.append(signum)
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedder's worker thread): leave signals alone
        pass


def on_stop_signals(callback: Callable[[int], None]) -> Callable[[], None]:
    """Call `callback(signum)` on the first SIGINT or SIGTERM instead of raising; a second
    one exits at once (128 + signal). Returns a function restoring the previous handlers."""

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        if _received:
            _exit_now(signum)
        _received.append(signum)
        callback(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: the caller's cancel event is all there is
        return lambda: None

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
