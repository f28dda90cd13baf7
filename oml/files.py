"""Whole-file writes that a reader never sees half done: temp file beside the target, then rename.

Every layer writes small files this way (compiled artifacts, pipelines, session status, chat
state, caches), so it lives in the package everything else may import. The temp file is
removed on any failure; `durable` adds an fsync for files that must survive a crash (compiled
output, pipelines the user asked for), not for caches and live status files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["cache_root", "file_sha256", "write_atomic"]

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once, at import (os.umask can only be read by setting it)


def write_atomic(path: Path | str, data: bytes | str, *, durable: bool = False) -> None:
    """Replace `path` with `data` (str is written as UTF-8); keeps an existing file's mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp creates 0600; give the file what a plain open() would (or the old file's mode).
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (artifacts and wheels can be large)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_root(env: dict[str, str] | None = None) -> Path:
    """Where every Osiris cache lives (specs, wheels, pins).

    `$OSIRIS_CACHE_DIR`, else `$XDG_CACHE_HOME/osiris`, else `~/.cache/osiris`.
    """
    env = dict(os.environ) if env is None else env
    if env.get("OSIRIS_CACHE_DIR"):
        return Path(env["OSIRIS_CACHE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "osiris"
