"""Run a compiled manifest in an E2B sandbox (or a local stand-in) with a local run's results.

Two packages and what they share:

- `host/`: runs where `osiris run --e2b` runs. `SandboxExecutor` (host/executor.py) is the
  proxy, a drop-in for the local executor; `E2BOptions` (host/options.py) what the command
  line asks for; staging, uploads, the connection payload, the transports, message checks.
- `sandbox/`: runs inside the sandbox. `bootstrap.py` (standard library only, uploaded as a
  file) prepares the environment and starts `worker.py`, which runs the manifest with the
  local executor and streams events back.
- `protocol.py` (the wire format) and `paths.py` (host <-> sandbox path mapping) are shared.

The sandbox side never imports the host side (an import-linter contract in pyproject.toml);
the host reads the bootstrap's shared values (marker, build id) and uploads its file.
Protocol: docs/e2b-protocol.md; user guide: docs/e2b.md. Names here are imported lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["E2BOptions", "SandboxExecutor", "make_transport"]


def __getattr__(name: str) -> Any:
    if name == "E2BOptions":
        from osiris.runtime.e2b.host.options import E2BOptions

        return E2BOptions
    if name in ("SandboxExecutor", "make_transport"):
        from osiris.runtime.e2b.host import executor

        return getattr(executor, name)
    raise AttributeError(name)
