"""Whole-file writes that a reader never sees half done: temp file beside the target, then rename.

Every layer writes small files this way (compiled artifacts, pipelines, session status, chat
state, caches). It lives in the compiler, the lowest layer that writes files (artifacts, the
spec cache): the runtime, llm and the CLIs above may import it, and oml/ stays the language. The temp file is
removed on any failure; `durable` adds an fsync for files that must survive a crash (compiled
output, pipelines the user asked for), not for caches and live status files.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "NotAPlainFile",
    "cache_root",
    "file_sha256",
    "open_private",
    "private_dir",
    "read_plain_file",
    "tighten_subdirs",
    "write_atomic",
]

PRIVATE_FILE = 0o600
"""Session, chat, cache and state files: they hold what a run saw (masked, but still private)."""
PRIVATE_DIR = 0o700



def _current_umask() -> int:
    """The process umask, read from /proc where it can be (os.umask can only be read by setting
    it, and a file another thread creates meanwhile would get mode 0666)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # the fallback window creates nothing wider than 0700
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_atomic(path: Path | str, data: bytes | str, *, durable: bool = False, private: bool = False) -> None:
    """Replace `path` with `data` (str is written as UTF-8); keeps an existing file's mode.

    `private`: the file is 0600 from its first byte (mkstemp's mode, never widened), folders
    created for it are 0700, and an older, wider file is replaced by a 0600 one. An existing
    folder is left as it is (it may be the user's project): tighten state folders with
    `private_dir`.
    """
    path = Path(path)
    if private:
        private_dir(path.parent, tighten=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if not private:
            # mkstemp creates 0600; give the file what a plain open() would (or the old file's mode).
            os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_dir(path: Path | str, *, tighten: bool = True) -> Path:
    """`path` as a 0700 directory: missing folders on the way are created 0700, and (`tighten`)
    the folder itself is narrowed when an older version left it wider (0755)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():
                raise
    if tighten:
        _tighten(path, PRIVATE_DIR)
    return path


def open_private(path: Path | str, mode: str = "a") -> IO[str]:
    """Open a text file for writing or appending as 0600 from its creation (an older, wider
    file is tightened first); a link, FIFO or device in its place is an OSError."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    # never through a symbolic link, and a FIFO without a reader fails (ENXIO) instead of blocking
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def tighten_subdirs(root: Path | str) -> None:
    """Folders directly under `root` that an older version created wider than 0700 (sessions,
    cache entries) become 0700, so their files are out of reach too."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                os.chmod(entry.path, PRIVATE_DIR)
        except OSError:
            continue


def _tighten(path: Path, mode: int) -> None:
    try:
        if path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except OSError:
        pass  # not ours to change (another user's folder): what we create inside is still private


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


class NotAPlainFile(ValueError):
    """A file `read_plain_file` refuses: a link, a FIFO or device, too large, unreadable."""


def read_plain_file(path: Path, shown: str, limit: int, *, kind: str = "file", where: str = "here",
                    limit_text: Callable[[int], str] | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, never following a symbolic link
    (O_NOFOLLOW: a link could point anywhere, such as a connections file), never blocking on a
    FIFO or device, never reading more than limit + 1 bytes. `kind` and `where` word the refusals
    ("a manifest file", "a manifest directory holds plain files")."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if path.is_symlink():
            raise NotAPlainFile(f"{shown} is a symbolic link; {where}") from None
        raise NotAPlainFile(f"cannot read {shown}: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAPlainFile(f"{shown} is not a regular file")
        if info.st_size > limit:
            shown_limit = limit_text(limit) if limit_text else f"({limit:,})"
            raise NotAPlainFile(f"{shown} is {info.st_size:,} bytes, more than a {kind} may be {shown_limit}")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise NotAPlainFile(f"{shown} grew beyond {limit:,} bytes while being read")
        return b"".join(chunks)
    except OSError as error:
        raise NotAPlainFile(f"cannot read {shown}: {error.strerror or error}") from None
    finally:
        os.close(fd)
