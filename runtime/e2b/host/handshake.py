"""Decide whether a worker's handshake describes a sandbox that will behave like the host.

Parity depends on running the same code with the same libraries: the protocol version and
the build (sha256 of the uploaded wheel) must match exactly, and so must the versions of
the libraries that shape data (pyarrow, DuckDB, the database clients). A Python minor
version difference is only logged: it changes nothing the parity suite can observe.
"""

from __future__ import annotations

import importlib.metadata as metadata
import logging
import platform
from typing import Any

from osiris.runtime.e2b.protocol import PROTOCOL

__all__ = ["check_handshake", "host_packages"]

log = logging.getLogger("osiris.e2b")


def host_packages(names: tuple[str, ...]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_handshake(message: dict[str, Any], build_id: str, cpus: int | None) -> tuple[str, str] | None:
    """None when the worker may run; else (message, hint) saying why not."""
    if message.get("protocol") != PROTOCOL:
        return (
            f"the sandbox worker speaks protocol {message.get('protocol')}, the host speaks {PROTOCOL}",
            "the uploaded build and the host differ; rebuild the template (docs/e2b.md)",
        )
    if message.get("build") != build_id:
        return (
            f"the sandbox runs build {message.get('build')}, not the uploaded {build_id}",
            "a stale build is installed in the template; rebuild it (docs/e2b.md)",
        )
    reported = message.get("packages") or {}
    host = host_packages(tuple(reported))
    differ = [
        f"{name} {reported[name]} (host {host[name]})"
        for name in sorted(reported)
        if host.get(name) != reported.get(name)
    ]
    if differ:
        return (
            f"the sandbox's libraries differ from the host's: {', '.join(differ)}",
            "rebuild the template from this checkout's requirements (docs/e2b.md)",
        )
    if cpus is not None and int(message.get("cpus") or 0) < cpus:
        return (
            f"the sandbox has {message.get('cpus')} CPUs but --e2b-cpu asks for {cpus}",
            f"build a template with `--cpu-count {cpus}` and pass it with --e2b-template (docs/e2b.md)",
        )
    python = str(message.get("python", ""))
    if python.split(".")[:2] != platform.python_version().split(".")[:2]:
        log.warning("the sandbox runs Python %s, the host %s", python, platform.python_version())
    return None
