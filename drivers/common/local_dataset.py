"""A local dataset directory (`partition_by`, file rotation) written whole or not at all.

The parts are written into a hidden directory beside the target (`.orders.<host>-<pid>-<hex>.osiris-tmp`,
claimed with mkdir, so two writers never share one). When the stream has ended the files are
fsynced and the directory takes the target's place in one step: renameat2(RENAME_EXCHANGE)
swaps it with an existing target, so the path always names a complete dataset, old or new,
never a partly written one and never none; then the old one is removed. (A reader walking the
directory at the moment of the swap resolves paths one by one and can pick up files of both.) Where
the exchange is not available, the old directory is renamed aside first, leaving an instant
with no target. Without `overwrite` the rename refuses an existing target (RENAME_NOREPLACE).
A failure before the rename removes the staging and leaves the target as it was; a run killed
outright leaves its staging for the next write to sweep (`runtime.tempfiles`). Nothing is ever
written inside the existing target, so a link planted there leads nowhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

from osiris.drivers.common.atomic import os_error
from osiris.runtime.driver import DriverError
from osiris.runtime.publish import publish_dir
from osiris.runtime.tempfiles import owned_temp_name, sweep_stale_temps

__all__ = ["LocalStagedDir"]

SUFFIX = ".osiris-tmp"


class LocalStagedDir:
    """The staging of one dataset directory; the same face as store_publish.StagedPrefix, so
    parquet_store lays out the parts once for both."""

    single = False
    carries_state = False
    """The state file is written right after the rename (drivers/common/file_state.py)."""

    def __init__(self, target: Path, *, shown: str, overwrite: bool, create_dirs: bool) -> None:
        self.target, self.shown, self.overwrite = target, shown, overwrite
        if not overwrite and os.path.lexists(target):
            raise self._exists()
        if os.path.lexists(target) and not target.is_dir():
            raise DriverError(f"cannot write the dataset {shown}: a file is there",
                              hint="name a directory (a path ending in /) or remove the file")
        try:
            if create_dirs:
                target.parent.mkdir(parents=True, exist_ok=True)
            elif not target.parent.is_dir():
                raise DriverError(f"cannot write {shown}: its directory does not exist",
                                  hint="create the directory or set `create_dirs: true`")
            sweep_stale_temps(target, SUFFIX)
            self.temp = owned_temp_name(target, SUFFIX)
            self.temp.mkdir(mode=0o777)
        except OSError as error:
            raise os_error(error, shown) from None
        self.fs = pafs.LocalFileSystem()
        self.written: list[str] = []
        self.states: list[tuple[str, str]] = []

    def path(self, name: str) -> str:
        where = self.temp / name
        where.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(name)
        return str(where)

    def _exists(self) -> DriverError:
        return DriverError(f"{self.shown} already exists and overwrite is false",
                           hint="set `overwrite: true` or remove the directory")

    def publish(self) -> None:
        for name in self.written:
            fd = os.open(self.temp / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            old = publish_dir(self.temp, self.target, overwrite=self.overwrite,
                              aside=owned_temp_name(self.target, SUFFIX))
        except FileExistsError:
            raise self._exists() from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # the old dataset, under a staging name

    def discard(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)

    @contextlib.contextmanager
    def session(self) -> Iterator[LocalStagedDir]:
        """Yield self; publish on success, discard on any failure (Cancelled and Ctrl-C included)."""
        try:
            yield self
            self.publish()
        except BaseException as error:
            self.discard()
            if isinstance(error, OSError):
                raise os_error(error, self.shown) from None
            raise
