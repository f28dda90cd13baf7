"""The local executor's `StepContext` and the live state of one step.

`StepState` is written by the step's thread and read by the progress display and the RSS
sampler; counters are plain ints updated under the GIL by one writer, so readers see a
recent value without locking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from osiris.runtime.driver import Cancelled, Partition, ResolvedConnection
from osiris.runtime.events import EventLog, MetricLog, clean_fields

__all__ = ["PROGRESS_FIELDS", "LocalStepContext", "StepState"]

PROGRESS_FIELDS = ("rows_in", "rows_out", "bytes_out", "reported_rows", "reported_bytes")
"""The StepState counters that change while a step runs (the e2b worker's heartbeat sends these)."""


@dataclass
class StepState:
    """What is known about one step while the run goes on (and after)."""

    id: str
    component: str
    kind: str
    status: str = "pending"
    """pending | waiting | running | succeeded | failed | skipped | cancelled"""
    attempts: int = 0
    rows_in: int = 0
    """Rows taken from the inputs (transforms, writers); an extractor's `rows_read` is `rows_out`."""
    rows_out: int = 0
    rows_written: int = 0
    bytes_out: int = 0
    bytes_written: int = 0
    reported_rows: int = 0
    """The driver's own cumulative count (`ctx.progress`), for the live display."""
    reported_bytes: int = 0
    target: str = ""
    error: dict[str, Any] | None = None
    skip_reason: str | None = None
    """Why a skipped step did not run, or why a cancelled one stopped early (consumers gone)."""
    started: float | None = None
    finished: float | None = None
    peak_rss_bytes: int = 0

    @property
    def duration_ms(self) -> int:
        if self.started is None:
            return 0
        end = self.finished if self.finished is not None else time.monotonic()
        return int((end - self.started) * 1000)

    @property
    def rows_read(self) -> int:
        """Rows read from the source (extractors) or from the inputs (transforms, writers)."""
        return self.rows_out if self.kind == "extractor" else self.rows_in

    @property
    def rows(self) -> int:
        """The row count that describes the step: written for writers, produced for the others."""
        return self.rows_written if self.kind == "writer" else self.rows_out

    @property
    def bytes(self) -> int:
        """Bytes written for writers, Arrow bytes produced for the others."""
        return self.bytes_written if self.kind == "writer" else self.bytes_out

    @property
    def live_rows(self) -> int:
        """The most meaningful row count right now for the progress display (a writer's input
        count while it has not reported what it wrote)."""
        rows = max(self.rows, self.reported_rows)
        return max(rows, self.rows_in) if self.kind == "writer" else rows


@dataclass
class LocalStepContext:
    """Implements `runtime.driver.StepContext` for one attempt of one step."""

    step_id: str
    component: str
    mode: str
    config: Mapping[str, Any]
    connection: ResolvedConnection | None
    work_dir: Path
    temp_dir: Path
    batch_rows: int
    memory_limit_bytes: int
    state: StepState
    events: EventLog
    metrics: MetricLog
    cancel: threading.Event
    attempt: int = 1
    path_roots: tuple[str, ...] = ()
    protected_files: tuple[str, ...] = ()
    partition: Partition | None = None
    """Set by a distributed backend for one slice of a `PartitionedExtractor`; never by the local run."""
    incremental: Any = None
    """An incremental extractor's `CursorFilter` (runtime/incremental.py), else None."""
    state_commit: Any = None
    """The `StateCommit` a state-keeping writer writes before it commits (runtime/local/cursors.py)."""

    def __post_init__(self) -> None:
        self.config = MappingProxyType(dict(self.config))

    def event(self, name: str, /, **fields: Any) -> None:
        """A driver event; a field named like a reserved one (`RESERVED_FIELDS`) becomes `driver_<name>`."""
        self.events.emit(str(name), step_id=self.step_id, component=self.component, **clean_fields(fields))

    def metric(self, name: str, value: float, /, unit: str | None = None, **tags: Any) -> None:
        """A driver metric tagged with the step's component; reserved tag names become `driver_<name>`."""
        self.metrics.emit(
            str(name), value, unit, step_id=self.step_id, component=self.component, **clean_fields(tags)
        )

    def progress(self, rows: int, nbytes: int) -> None:
        self.state.reported_rows = int(rows)
        self.state.reported_bytes = int(nbytes)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the run was cancelled")

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.work_dir / candidate
