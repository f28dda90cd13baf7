"""Temp names for atomic file output, and the sweep of those a killed run left behind.

Writers write `.<name>.<host>-<pid>-<random><suffix>` beside their target and rename it into
place. A run killed with SIGKILL (or a power cut) cannot remove its temp file, so the next
write to the same target removes the temp files of its own name whose writer is gone: same
host (a short hash of the host name, so a shared network directory never loses another
machine's write in progress) and a process id that no longer exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

__all__ = ["owned_temp_name", "pid_alive", "sweep_stale_temps"]


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def owned_temp_name(target: Path, suffix: str) -> Path:
    """A hidden, unique sibling of `target` that records which host and process wrote it."""
    return target.with_name(f".{target.name}.{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def pid_alive(pid: object) -> bool:
    """Whether a process with id `pid` exists on this machine (anything but a positive int: no)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def sweep_stale_temps(target: Path, suffix: str) -> list[Path]:
    """Remove temp files for `target` left by dead writers on this host; return what was removed."""
    pattern = re.compile(
        rf"^\.{re.escape(target.name)}\.(?P<host>[0-9a-f]{{8}})-(?P<pid>\d+)-[0-9a-f]+{re.escape(suffix)}$"
    )
    host = _host_tag()
    removed = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        match = pattern.match(path.name)
        if not match or match["host"] != host or pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if path.is_dir() and not path.is_symlink():  # a dataset directory's staging
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed
