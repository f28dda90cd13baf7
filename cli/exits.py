"""The exit codes of `omlc`, `osiris` and `osiris chat`: one enum, so both programs agree.

A shell script can tell bad input (1) from a bad command line (2) from a bug (3) without
reading messages; signals follow the shell's 128+N convention.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """The input has errors, a step or the compile failed, a session is damaged; for
    `omlc diff --exit-code`, the two sides differ (and USAGE that they could not be compared)."""
    USAGE = 2
    """Bad command line, unknown command, missing optional dependency (names the pip extra)."""
    INTERNAL = 3
    """A bug: one masked line, the traceback only with --debug or OSIRIS_DEBUG=1."""
    CANCELLED = 130
    """Ctrl-C (128 + SIGINT)."""
    BROKEN_PIPE = 141
    """stdout closed early, as in `osiris logs list | head` (128 + SIGPIPE)."""
    TERMINATED = 143
    """SIGTERM, handled like Ctrl-C (128 + SIGTERM)."""
