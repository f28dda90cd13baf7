"""A missing optional dependency is a message naming the pip extra to install (exit 2), not a traceback.

`pip install osiris-oml` brings only the compiler; the CLIs' error guard (cli/guard.py) asks
`missing_extra` about any ModuleNotFoundError that escapes a command. The table of which extra
brings which library is runtime/extras.py (the driver registry uses it too). A command whose
libraries span several extras calls `require_extra` first, so a bare install is told the
command's extra (`osiris chat` needs [chat]) rather than that of whichever library loads first.
"""

from __future__ import annotations

from osiris.runtime.extras import extra_for_module, install_hint, missing_modules

__all__ = ["ExtraMissing", "missing_extra", "require_extra"]


class ExtraMissing(ModuleNotFoundError):
    """An optional library is missing, and the command knows which extra brings it."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"{module} is not installed", name=module)
        self.extra = extra


def require_extra(extra: str) -> None:
    """Raise ExtraMissing unless every library of `extra` can be found (checked without importing)."""
    missing = missing_modules(extra)
    if missing:
        raise ExtraMissing(extra, missing[0])


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The message for a missing optional dependency, or None when `error.name` is not one
    (then it is a bug or a broken install, and the guard reports an internal error)."""
    module = (error.name or "").partition(".")[0]
    extra = getattr(error, "extra", None) or extra_for_module(module)
    if extra is None:
        return None
    return f"{module} is not installed: this needs the extra [{extra}]\n  hint: {install_hint(extra)}"
