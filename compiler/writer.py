"""Write a compiled directory atomically: a failed compile leaves the previous output intact.

Files are written into a temporary sibling directory, which then replaces the target with
two renames (target -> backup, temp -> target). A crash between them leaves the backup
beside the target, never a half-written target.

Every file is fsynced before the renames, so the new target is complete on disk when it
appears. One fsync costs about a millisecond here, and a 1,000-step pipeline has a file per
step, so they are issued from a few threads at once: the filesystem commits concurrent fsyncs
together (one journal commit for many), 1,004 files take ~0.2 s instead of ~0.4-0.6 s, and
every file is still synced before the rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from osiris.compiler.files import write_atomic

SYNC_THREADS = 8
"""Threads that write and fsync the files of a large output (measured: 8 as fast as 32 or 64)."""
_SERIAL_UP_TO = 16
"""Outputs this small are written in the calling thread (no thread pool to import or start)."""


def _write_durably(target: Path, data: bytes) -> None:
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_all(staging: Path, files: dict[str, bytes]) -> None:
    targets = [(staging / relative, data) for relative, data in files.items()]
    for folder in sorted({target.parent for target, _ in targets}):
        folder.mkdir(parents=True, exist_ok=True)
    if len(targets) <= _SERIAL_UP_TO:
        for target, data in targets:
            _write_durably(target, data)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="omlc-write") as pool:
        for _ in pool.map(lambda item: _write_durably(*item), targets):
            pass  # re-raises the first failure


def write_tree(out_dir: Path, files: dict[str, bytes]) -> None:
    out_dir = Path(out_dir)
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    try:
        _write_all(staging, files)
        backup = None
        if out_dir.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            backup.rmdir()
            os.replace(out_dir, backup)
        os.replace(staging, out_dir)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_file(path: Path, data: bytes) -> None:
    """Write one file atomically and durably (`omlc compile --out F`, `omlc fmt`)."""
    write_atomic(path, data, durable=True)
