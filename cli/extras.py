"""A missing optional dependency is a message naming the pip extra to install (exit 2), not a traceback.

`pip install osiris-oml` brings only the compiler; the CLIs' error guard (cli/guard.py) asks
`missing_extra` about any ModuleNotFoundError that escapes a command. The table of which extra
brings which library is runtime/extras.py (the driver registry uses it too).
"""

from __future__ import annotations

from osiris.runtime.extras import extra_for_module, install_hint

__all__ = ["missing_extra"]


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The message for a missing optional dependency, or None when `error.name` is not one
    (then it is a bug or a broken install, and the guard reports an internal error)."""
    module = (error.name or "").partition(".")[0]
    extra = extra_for_module(module)
    if extra is None:
        return None
    return f"{module} is not installed: this needs the extra [{extra}]\n  hint: {install_hint(extra)}"
