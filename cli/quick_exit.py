"""End a CLI process without CPython's module-by-module teardown (~50-60 ms of every command).

At exit CPython joins the non-daemon threads, runs the atexit handlers, then clears every module
and frees every object one at a time. With pydantic, pyarrow and a driver loaded, that last step
costs 50-60 ms and does nothing anyone can see: `omlc compile` of a small pipeline spends a
fifth of its time in it.

`arm()` is called first thing in each console script's `main`, before anything else registers an
atexit handler, so its handler runs last (atexit is LIFO): by then the threads are joined and
every other handler has run (logging's flush, weakref finalizers such as temporary directories,
Ray's shutdown). It flushes stdout and stderr and leaves with `os._exit` and the code `main`
passed to `leave_with`. Without that code (an in-process caller, or an exit `main` did not see)
the handler does nothing and the interpreter ends as usual.
"""

from __future__ import annotations

import atexit
import os
import sys

__all__ = ["arm", "leave_with"]

_code: int | None = None
_armed = False


def arm() -> None:
    """Register the quick exit (once per process)."""
    global _armed
    if not _armed:
        _armed = True
        atexit.register(_leave)


def leave_with(code: int) -> int:
    """Remember the exit code the quick exit will use; returns it unchanged."""
    global _code
    _code = int(code)
    return _code


def _leave() -> None:
    if _code is None:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: what was written is all there is
            pass
    os._exit(_code)
