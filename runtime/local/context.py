"""The local executor's `StepContext` and the live state of one step.

`StepState` is written by the step's thread and read by the progress display and the RSS
sampler; counters are plain ints updated under the GIL by one writer, so readers see a
recent value without locking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runtime.driver import Cancelled, ResolvedConnection
from runtime.events import EventLog, MetricLog

__all__ = ["LocalStepContext", "StepState"]

RESERVED_EVENT_FIELDS = frozenset({"ts", "seq", "session_id", "event", "step_id"})


@dataclass
class StepState:
    """What is known about one step while the run goes on (and after)."""

    id: str
    component: str
    kind: str
    status: str = "pending"
    """pending | waiting | running | succeeded | failed | skipped | cancelled"""
    attempts: int = 0
    rows_read: int = 0
    rows_out: int = 0
    rows_written: int = 0
    bytes_out: int = 0
    bytes_written: int = 0
    spill_bytes: int = 0
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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> int:
        if self.started is None:
            return 0
        end = self.finished if self.finished is not None else time.monotonic()
        return int((end - self.started) * 1000)

    @property
    def live_rows(self) -> int:
        """The most meaningful row count right now for the progress display."""
        if self.kind == "writer":
            return max(self.rows_written, self.rows_read, self.reported_rows)
        return max(self.rows_out, self.reported_rows)


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

    def __post_init__(self) -> None:
        self.config = MappingProxyType(dict(self.config))

    def event(self, name: str, **fields: Any) -> None:
        clean = {k if k not in RESERVED_EVENT_FIELDS else f"driver_{k}": v for k, v in fields.items()}
        self.events.emit(str(name), step_id=self.step_id, component=self.component, **clean)

    def metric(self, name: str, value: float, unit: str | None = None, **tags: Any) -> None:
        tags.pop("step_id", None)
        self.metrics.emit(str(name), value, unit, step_id=self.step_id, **tags)

    def progress(self, rows: int, nbytes: int) -> None:
        self.state.reported_rows = int(rows)
        self.state.reported_bytes = int(nbytes)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the run was cancelled")

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.work_dir / candidate
