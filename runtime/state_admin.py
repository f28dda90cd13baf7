"""Read and reset a pipeline's incremental state where it lives: next to each keeper's target.

`osiris state list|show|reset` compiles the pipeline (so the steps, keepers, tables and
connections are exactly those a run would use), then asks each keeper's driver (a
`StateKeeper`) for its `_osiris_state` rows. Nothing here writes except `reset`, which deletes
the rows of the named steps so their next run starts from `initial` (or from the beginning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.compiler.compiled import Compiled
from osiris.runtime.connections import RuntimeConnections, UnencryptedNotices, step_ref
from osiris.runtime.driver import DriverError
from osiris.runtime.incremental import CursorState, IncrementalSpec
from osiris.runtime.local.cursors import keepers
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.testing import RecordingContext

__all__ = ["KeptState", "StateAdmin"]


@dataclass(frozen=True)
class KeptState:
    """One incremental step's stored state as its keeper holds it (None: no run committed yet)."""

    step: str
    keeper: str
    target: str
    spec: IncrementalSpec
    stored: str | None

    @property
    def state(self) -> CursorState | None:
        return CursorState.from_json(self.stored) if self.stored is not None else None

    def to_json(self) -> dict[str, Any]:
        state = self.state
        data: dict[str, Any] = {"step": self.step, "keeper": self.keeper, "target": self.target,
                                "cursor": self.spec.cursor, "strategy": self.spec.strategy, "stored": state is not None}
        if state is not None:
            data.update(kind=state.kind, value=None if state.value is None else str(state.value),
                        source=state.source, boundary_rows=len(state.boundary), null_rows=state.null_rows,
                        rows=state.rows)
        return data


class StateAdmin:
    """The incremental steps of one compiled pipeline and their keepers' drivers."""

    def __init__(self, compiled: Compiled, connections: RuntimeConnections, registry: DriverRegistry,
                 work_dir: Path) -> None:
        self.manifest = compiled.manifest
        self.cfgs: Mapping[str, Mapping[str, Any]] = compiled.cfgs
        self.keepers = keepers(self.manifest, self.cfgs)
        self.connections, self.registry, self.work_dir = connections, registry, work_dir

    @classmethod
    def for_compiled(cls, compiled: Compiled, connections_file: Any, env: Mapping[str, str], masker: Any,
                     registry: DriverRegistry, work_dir: Path) -> StateAdmin:
        conns = RuntimeConnections(connections_file, masker, env, UnencryptedNotices(log=False))
        return cls(compiled, conns, registry, work_dir)

    def steps(self) -> list[str]:
        return sorted(self.keepers)

    def _keeper(self, keeper_id: str) -> tuple[Any, RecordingContext]:
        step = self.manifest.step(keeper_id)
        ref = step_ref(step.family, step.connection, self.connections)
        connection = self.connections.resolve(ref, step_id=keeper_id) if ref else None
        driver = self.registry.create(step.component)
        if not callable(getattr(driver, "read_state", None)):
            raise DriverError(f"{step.component} keeps no incremental state")
        ctx = RecordingContext(config=dict(self.cfgs[keeper_id]), connection=connection, step_id=keeper_id,
                               component=step.component, mode="write", work_dir=self.work_dir)
        return driver, ctx

    def show(self, steps: Iterable[str] | None = None) -> list[KeptState]:
        wanted = self._check(steps)
        out = []
        for step_id in wanted:
            keeper = self.keepers[step_id]
            driver, ctx = self._keeper(keeper)
            spec = IncrementalSpec.from_config(self.cfgs[step_id])
            assert spec is not None
            stored = driver.read_state(ctx, self.manifest.pipeline.name, step_id)
            target = self.cfgs[keeper].get("table") or self.cfgs[keeper].get("path") or keeper
            out.append(KeptState(step_id, keeper, str(target), spec, stored))
        return out

    def reset(self, steps: Iterable[str] | None = None) -> int:
        wanted = self._check(steps)
        by_keeper: dict[str, list[str]] = {}
        for step_id in wanted:
            by_keeper.setdefault(self.keepers[step_id], []).append(step_id)
        removed = 0
        for keeper, step_ids in sorted(by_keeper.items()):
            driver, ctx = self._keeper(keeper)
            removed += int(driver.reset_state(ctx, self.manifest.pipeline.name, step_ids))
        return removed

    def _check(self, steps: Iterable[str] | None) -> list[str]:
        if steps is None:
            return self.steps()
        wanted = list(steps)
        unknown = [s for s in wanted if s not in self.keepers]
        if unknown:
            known = ", ".join(self.steps()) or "none"
            raise DriverError(f"not an incremental step of {self.manifest.pipeline.name}: {', '.join(unknown)}",
                              hint=f"incremental steps: {known}")
        return wanted
