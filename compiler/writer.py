"""Write a compiled directory atomically: a failed compile leaves the previous output intact.

Files are written into a temporary sibling directory, which then replaces the target with
two renames (target -> backup, temp -> target). A crash between them leaves the backup
beside the target, never a half-written target.

Every file is fsynced before the renames, so the new target is complete on disk when it
appears. A manifest is five files whatever the step count (manifest version 3 holds every
step's config in cfg.json): version 2's file per step cost a 1,000-step compile ~0.2 s of
fsyncs, half its time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from osiris.compiler.files import write_atomic


def _write_durably(target: Path, data: bytes) -> None:
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_all(staging: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(target, data)


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
