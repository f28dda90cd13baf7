"""Atomic file output: write to a temp name beside the target, fsync, then rename into place.

With `overwrite: false` the rename never replaces a file, even one created at the target
while the data was being written (`runtime.publish`: renameat2 RENAME_NOREPLACE or a link).

A reader of the target sees the old file or the complete new one, never a partial write.
Any failure (an exception from the input stream, `Cancelled`, Ctrl-C, disk full, permission
denied) removes the temp file and leaves the previous target untouched. A run killed outright
(SIGKILL) cannot: the next write to the same target removes such leftovers
(`runtime.tempfiles`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from osiris.runtime.driver import DriverError
from osiris.runtime.publish import publish
from osiris.runtime.tempfiles import owned_temp_name, sweep_stale_temps

__all__ = ["atomic_path", "error_code", "os_error", "temp_name", "writing_back"]

TEMP_SUFFIX = ".osiris-tmp"


def temp_name(target: Path) -> Path:
    """A hidden, unique sibling of `target` (hidden so directory readers skip it)."""
    return owned_temp_name(target, TEMP_SUFFIX)


@contextlib.contextmanager
def atomic_path(
    target: Path, *, shown: str, overwrite: bool = True, create_dirs: bool = True
) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `target`, on failure it is removed.

    `shown` is the path as the user wrote it, used in error messages. With `overwrite=False`
    the publish refuses to replace an existing file, checked atomically (`runtime.publish`).
    """
    parent = target.parent
    if target.is_dir():
        raise DriverError(f"cannot write {shown}: it is a directory", hint="give a file name in `path`")
    if not overwrite and os.path.lexists(target):  # fail before writing; _publish checks again, atomically
        raise _exists(shown)
    try:
        if create_dirs:
            parent.mkdir(parents=True, exist_ok=True)
        elif not parent.is_dir():
            raise DriverError(
                f"cannot write {shown}: its directory does not exist",
                hint="create the directory or set `create_dirs: true`",
            )
        sweep_stale_temps(target, TEMP_SUFFIX)
        temp = temp_name(target)
        # Claim the temp name exclusively, so two writers never share one.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise os_error(error, shown) from None
    try:
        yield temp
        _fsync_file(temp)
        _publish(temp, target, overwrite=overwrite, shown=shown)
        _fsync_dir(parent)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        if isinstance(error, OSError):
            raise os_error(error, shown) from error
        raise


def os_error(error: OSError, shown: str) -> DriverError:
    """Turn an OS-level failure into a message about the user's path (no absolute paths)."""
    code = error_code(error)
    if code in (errno.EACCES, errno.EPERM):
        return DriverError(
            f"permission denied writing {shown}",
            hint="check that the directory is writable by the user running osiris",
        )
    if code == errno.EROFS:
        return DriverError(f"cannot write {shown}: the file system is read-only")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return DriverError(f"no space left on the device while writing {shown}", hint="free disk space")
    if code == errno.ENOENT:
        return DriverError(f"cannot write {shown}: its directory does not exist")
    reason = os.strerror(code) if code else str(error)
    return DriverError(f"cannot write {shown}: {reason}")


def error_code(error: OSError) -> int | None:
    """The errno of `error`; pyarrow's IO errors carry it only in their text."""
    if error.errno is not None:
        return error.errno
    found = re.search(r"\[errno (\d+)\]", str(error), re.IGNORECASE)
    return int(found.group(1)) if found else None


def _publish(temp: Path, target: Path, *, overwrite: bool, shown: str) -> None:
    try:
        publish(temp, target, overwrite=overwrite)  # no-clobber: a file that appeared meanwhile stays
    except FileExistsError:
        raise _exists(shown) from None


def _exists(shown: str) -> DriverError:
    return DriverError(
        f"{shown} already exists and overwrite is false", hint="set `overwrite: true` or remove the file"
    )


@contextlib.contextmanager
def writing_back(temp: Path) -> Iterator[None]:
    """Put what `temp` holds so far on disk while the block runs (a writer's last encode), so the
    fsync that publishes it waits only for the rest. A failure here is left to that fsync."""

    def sync() -> None:
        with contextlib.suppress(OSError):
            _fsync_file(temp)

    thread = threading.Thread(target=sync, name="osiris-writeback", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; not every platform/file system allows it, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
