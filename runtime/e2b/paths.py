"""Where host directories live in the sandbox, and how sandbox paths are told back to the host.

A *mount* pairs a host directory with a sandbox directory: mount 0 is the run's working
directory (relative config paths resolve against it), further mounts are the `base_dir`s of
`@filesystem` connections outside it. Input files are uploaded through a mount, outputs
are downloaded back through the same mount, and every string the worker sends has its
sandbox prefixes replaced by the host's, so events, errors and tracebacks read as if the
run had been local.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Mount", "PathMapper", "locate"]


@dataclass(frozen=True)
class Mount:
    host: str
    """Absolute host directory."""
    sandbox: str
    """Absolute sandbox directory (POSIX)."""

    def to_json(self) -> dict[str, str]:
        return {"host": self.host, "sandbox": self.sandbox}


def locate(mounts: Iterable[Mount], sandbox_path: str) -> tuple[int, str] | None:
    """(mount index, relative POSIX path) of a sandbox path, if it lies under a mount."""
    path = PurePosixPath(sandbox_path)
    best: tuple[int, str] | None = None
    best_len = -1
    for index, mount in enumerate(mounts):
        base = PurePosixPath(mount.sandbox)
        if path == base or base in path.parents:
            if len(base.parts) > best_len:
                best, best_len = (index, path.relative_to(base).as_posix()), len(base.parts)
    return best


class PathMapper:
    """Replace sandbox path prefixes by host ones in serialised protocol lines.

    Works on the JSON text, so it reaches every string at once (event fields, error
    messages, tracebacks) for the cost of a few `str.replace` calls per line.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        # Longest sandbox prefix first, so /root/work/x is not rewritten as /root + ...
        ordered = sorted(
            {(s.rstrip("/"), h.rstrip("/")) for s, h in pairs if s and h and s != h},
            key=lambda pair: -len(pair[0]),
        )
        self._pairs = [(json.dumps(s)[1:-1], json.dumps(h)[1:-1]) for s, h in ordered]

    def apply(self, text: str) -> str:
        for sandbox, host in self._pairs:
            if sandbox in text:
                text = text.replace(sandbox, host)
        return text


def host_path(mounts: list[Mount], index: int, relpath: str) -> Path:
    """The host file for (mount, relative path); refuses paths that climb out of the mount."""
    base = Path(mounts[index].host)
    target = (base / relpath).resolve()
    if target != base.resolve() and base.resolve() not in target.parents:
        raise ValueError(f"{relpath!r} leaves its directory")
    return target


__all__ += ["host_path"]
