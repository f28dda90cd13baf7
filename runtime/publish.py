"""Put a finished temp file in place: replace the target, or, without overwrite, never clobber one.

Checking that the target is absent and then renaming is not enough: a file created at the
target between the check and the rename would be silently replaced. Without overwrite the
publish is one step that fails when the name exists: renameat2(RENAME_NOREPLACE) on Linux;
where that is missing (other systems, some file systems) a hard link, which also refuses an
existing name, and an unlink of the temp name; where hard links are missing too, a placeholder
created exclusively (O_EXCL) that only this writer then replaces.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

__all__ = ["exchange", "publish", "publish_dir"]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_NOT_SUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
"""renameat2 on a kernel or file system without RENAME_NOREPLACE."""
_NO_HARD_LINKS = {errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
"""link() on a file system without hard links (vfat answers EPERM)."""


def publish(temp: Path, target: Path, *, overwrite: bool) -> None:
    """Rename `temp` to `target`. Without `overwrite`, raise FileExistsError (and keep `temp`)
    when anything, even a file created a moment ago, is at `target`."""
    if overwrite:
        os.replace(temp, target)
        return
    if _rename_noreplace(temp, target):
        return
    try:
        os.link(temp, target)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        _replace_own_placeholder(temp, target)
        return
    temp.unlink()


def _rename_noreplace(temp: Path, target: Path) -> bool:
    """True when renameat2 published; False when it is not available here."""
    return _renameat2_with(temp, target, _RENAME_NOREPLACE)


def publish_dir(staged: Path, target: Path, *, overwrite: bool, aside: Path) -> Path | None:
    """Put a finished directory in `target`'s place. Without `overwrite`, FileExistsError when
    anything is there (atomically, renameat2 NOREPLACE). With it, an existing target is swapped
    out in one step (RENAME_EXCHANGE) or, where that is missing, renamed to `aside` first;
    returns the old directory's new name (the caller removes it), or None when there was none."""
    if not overwrite or not os.path.lexists(target):
        publish(staged, target, overwrite=overwrite)
        return None
    if exchange(staged, target):
        return staged
    os.rename(target, aside)
    os.rename(staged, target)
    return aside


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing names in one step (renameat2 RENAME_EXCHANGE: a directory replaced by
    another with no moment where neither is there); False where that is not available."""
    return _renameat2_with(first, second, _RENAME_EXCHANGE)


def _renameat2_with(source: Path, target: Path, flag: int) -> bool:
    """renameat2(source, target, flag): True when done, False where the C library, the kernel or
    the file system lacks it; any other failure is the OSError it is."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flag) == 0:
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in _NOT_SUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(target))


def _replace_own_placeholder(temp: Path, target: Path) -> None:
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # FileExistsError if taken
    try:
        os.replace(temp, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


@cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's renameat2 (2.28+) through ctypes; None where the C library lacks it."""
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]
