"""The `StepContext` a Ray task gives a driver, and the in-memory `InputTable` it reads from.

A task runs far from the session folder (maybe on another machine), so what a driver records
(events, metrics) is collected here and travels back to the coordinator with the task's
result, masked by the worker before it leaves. Cancellation is Ray's job (`ray.cancel` stops
the task), so `check_cancelled` has nothing to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from osiris.runtime.driver import Partition, ResolvedConnection
from osiris.runtime.events import clean_fields, utc_now

__all__ = ["Recorded", "TableInput", "TaskStepContext"]


@dataclass
class Recorded:
    """Events and metrics a task recorded, in order, as (timestamp, name, fields)."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    metrics: list[tuple[str, str, float, str | None, dict[str, Any]]] = field(default_factory=list)

    def event(self, name: str, fields: dict[str, Any]) -> None:
        self.events.append((utc_now(), name, fields))

    def metric(self, name: str, value: float, unit: str | None, tags: dict[str, Any]) -> None:
        self.metrics.append((utc_now(), name, value, unit, tags))


@dataclass
class TaskStepContext:
    """Implements `runtime.driver.StepContext` for one step inside one Ray task."""

    step_id: str
    component: str
    mode: str
    config: Mapping[str, Any]
    connection: ResolvedConnection | None
    work_dir: Path
    temp_dir: Path
    batch_rows: int
    memory_limit_bytes: int
    recorded: Recorded
    path_roots: tuple[str, ...] = ()
    protected_files: tuple[str, ...] = ()
    partition: Partition | None = None
    reported_rows: int = 0
    reported_bytes: int = 0

    def __post_init__(self) -> None:
        self.config = MappingProxyType(dict(self.config))

    def event(self, name: str, /, **fields: Any) -> None:
        self.recorded.event(str(name), {"step_id": self.step_id, "component": self.component, **clean_fields(fields)})

    def metric(self, name: str, value: float, /, unit: str | None = None, **tags: Any) -> None:
        tags = {"step_id": self.step_id, "component": self.component, **clean_fields(tags)}
        self.recorded.metric(str(name), value, unit, tags)

    def progress(self, rows: int, nbytes: int) -> None:
        self.reported_rows, self.reported_bytes = int(rows), int(nbytes)

    def check_cancelled(self) -> None:
        """Ray stops a cancelled task itself."""

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.work_dir / candidate


@dataclass(frozen=True)
class TableInput:
    """`runtime.driver.InputTable` over Arrow tables a task received (one per partition or bucket).

    Ray hands tasks their inputs from the shared-memory object store without copying; the
    tables are chained, never concatenated, so no second copy is made here either.
    """

    name: str
    schema: pa.Schema
    tables: tuple[pa.Table, ...]

    @property
    def num_rows(self) -> int:
        return sum(t.num_rows for t in self.tables)

    def reader(self) -> pa.RecordBatchReader:
        batches = (batch for table in self.tables for batch in table.to_batches())
        return pa.RecordBatchReader.from_batches(self.schema, batches)

    def dataset(self) -> Any:
        import pyarrow.dataset as ds

        return ds.dataset(list(self.tables) or [self.schema.empty_table()], schema=self.schema)

