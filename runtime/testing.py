"""In-process doubles of the runtime's step context, for driver tests and contract tests.

They implement `runtime.driver.StepContext` and `InputTable` without a session, so a driver
can be exercised against a real database with a few lines of test code. The local executor
has its own production implementations; these only record what a driver reports.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from osiris.runtime.driver import Cancelled, ResolvedConnection
from osiris.runtime.local.spill import SpillTable, spill

__all__ = ["RecordingContext", "ipc_input"]

_scratch_root: Path | None = None


def _scratch_dir() -> Path:
    """A fresh step temp dir under one per-process folder that is removed at exit, so test
    runs that create thousands of contexts leave nothing behind in the system temp dir."""
    global _scratch_root
    if _scratch_root is None:
        _scratch_root = Path(tempfile.mkdtemp(prefix="osiris-test-steps-"))
        atexit.register(shutil.rmtree, _scratch_root, True)
    return Path(tempfile.mkdtemp(prefix="step-", dir=_scratch_root))


@dataclass
class RecordingContext:
    """A StepContext that records events, metrics and progress in lists."""

    config: Mapping[str, Any]
    connection: ResolvedConnection | None = None
    step_id: str = "step"
    component: str = "test.component"
    mode: str = "extract"
    work_dir: Path = field(default_factory=Path.cwd)
    path_roots: tuple[str, ...] = ()
    protected_files: tuple[str, ...] = ()
    temp_dir: Path = field(default_factory=_scratch_dir)
    batch_rows: int = 65536
    memory_limit_bytes: int = 256 * 1024 * 1024
    cancelled: bool = False
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    metrics: list[tuple[str, float, str | None, dict[str, Any]]] = field(default_factory=list)
    progress_calls: list[tuple[int, int]] = field(default_factory=list)

    def event(self, name: str, /, **fields: Any) -> None:
        self.events.append((name, fields))

    def metric(self, name: str, value: float, /, unit: str | None = None, **tags: Any) -> None:
        self.metrics.append((name, value, unit, tags))

    def progress(self, rows: int, nbytes: int) -> None:
        self.progress_calls.append((rows, nbytes))

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(self.step_id)

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.work_dir / candidate


def ipc_input(name: str, data: pa.Table | pa.RecordBatchReader, directory: Path) -> SpillTable:
    """Spill `data` to an Arrow IPC file and return it as an InputTable (the executor's own SpillTable)."""
    reader = data.to_reader() if isinstance(data, pa.Table) else data
    return spill(name, Path(directory) / f"{name}.arrow", reader.schema, reader)
