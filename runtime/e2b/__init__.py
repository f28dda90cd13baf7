"""Run a compiled manifest in an E2B sandbox (or a local stand-in) with a local run's results.

`SandboxExecutor` is the host-side proxy (a drop-in for the local executor), `E2BOptions`
what `osiris run --e2b` asks for. The worker (`runtime.e2b.worker`) runs inside the sandbox.
Protocol: docs/e2b-protocol.md; user guide: docs/e2b.md. Names are imported lazily, so the
bootstrap in the sandbox can import the worker without pulling in the host side.
"""

from __future__ import annotations

from typing import Any

__all__ = ["E2BOptions", "SandboxExecutor", "make_transport"]


def __getattr__(name: str) -> Any:
    if name == "E2BOptions":
        from osiris.runtime.e2b.options import E2BOptions

        return E2BOptions
    if name in ("SandboxExecutor", "make_transport"):
        from osiris.runtime.e2b import host

        return getattr(host, name)
    raise AttributeError(name)
