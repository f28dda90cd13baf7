"""The coordinator's side of staged database writes: publish, discard, and the record that lets
the next run drop what a killed one staged.

Tasks stage partitions (`StagedWriter.stage`); everything else happens here, in the process
that holds the plan: the one-transaction publish once every partition is staged, dropping the
staging tables of a step that failed or was cancelled, and `leftovers.py`'s record and sweep.
Staging tables are named by a per-run, per-step token, so two runs never share one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osiris.compiler.manifest_records import Manifest
from osiris.runtime.connections import RuntimeConnections, step_ref
from osiris.runtime.driver import WriteResult
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.local.context import LocalStepContext, StepState
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.ray.leftovers import record_staging, sweep
from osiris.runtime.registry import DriverRegistry

__all__ = ["StagedTargets", "token"]


def token(session_id: str, step_id: str) -> str:
    """`[a-z0-9]{12}`, unique per run and step: names the step's staging tables."""
    return hashlib.sha256(f"{session_id}/{step_id}".encode()).hexdigest()[:12]


class StagedTargets:
    """Publish and discard the staged writers of one run, and keep its staging record."""

    def __init__(self, manifest: Manifest, cfgs: Mapping[str, Mapping[str, Any]], *, events: EventLog,
                 metrics: MetricLog, connections: RuntimeConnections, registry: DriverRegistry,
                 options: ExecOptions, cancel: threading.Event, tmp_dir: Path | None) -> None:
        self.manifest, self.cfgs, self.events, self.metrics = manifest, cfgs, events, metrics
        self.connections, self.registry, self.options, self.cancel = connections, registry, options, cancel
        self.tmp_dir = tmp_dir
        self.tokens = {s.id: token(events.session_id, s.id) for s in manifest.steps}
        self.recorded: dict[str, dict[str, Any]] = {}

    def publish(self, state: StepState, partitions: int) -> WriteResult:
        """Move every staged partition of `state`'s step into its target in one transaction;
        raises what the driver raised (the target is then as it was)."""
        ctx, driver = self._context(state)
        written = driver.publish(ctx, self.tokens[state.id], partitions)
        if not isinstance(written, WriteResult):
            raise TypeError(f"publish returned {type(written).__name__}, not a WriteResult")
        return written

    def discard(self, state: StepState, partitions: int) -> None:
        """Drop the step's staging tables; best effort (a failure is logged with the token)."""
        try:
            ctx, driver = self._context(state)
            driver.discard(ctx, self.tokens[state.id], partitions)
        except Exception as error:  # noqa: BLE001 - the staging tables are named in the log
            logging.getLogger("osiris.runtime").warning(
                "could not drop the staging tables of step %s (token %s): %s", state.id, self.tokens[state.id], error)

    def record(self, step_ids: list[str], partitions: int) -> None:
        """Before these steps stage anything: add them to this run's record (leftovers.py)."""
        if not step_ids or self.tmp_dir is None:
            return
        for sid in step_ids:
            step = self.manifest.step(sid)
            self.recorded[sid] = {"step_id": sid, "component": step.component, "family": step.family,
                                  "connection": step.connection, "cfg": dict(self.cfgs[sid]),
                                  "token": self.tokens[sid], "partitions": partitions}
        record_staging(self.tmp_dir, list(self.recorded.values()))

    def sweep(self) -> None:
        """Drop what killed runs in the same sessions folder staged (a `staging_swept` event)."""
        if self.tmp_dir is None:
            return

        def discard(entry: dict[str, Any]) -> None:
            state = StepState(str(entry["step_id"]), str(entry["component"]), "writer")
            ctx, driver = self._context_for(state, entry.get("family"), entry.get("connection"),
                                            entry.get("cfg") or {})
            driver.discard(ctx, str(entry["token"]), int(entry["partitions"]))

        swept = sweep(self.tmp_dir.parent.parent, self.tmp_dir.parent, discard)
        if swept:
            shown = [{k: e[k] for k in ("session", "step_id", "token")} for e in swept]
            self.events.emit("staging_swept", staged=shown)

    def _context(self, state: StepState) -> tuple[LocalStepContext, Any]:
        step = self.manifest.step(state.id)
        return self._context_for(state, step.family, step.connection, self.cfgs[state.id])

    def _context_for(self, state: StepState, family: str | None, connection_ref: str | None,
                     cfg: Mapping[str, Any]) -> tuple[LocalStepContext, Any]:
        """A context for a driver call made in the coordinator, with the coordinator's connections."""
        ref = step_ref(family, connection_ref, self.connections)
        connection = self.connections.resolve(ref, step_id=state.id) if ref else None
        if connection is not None:
            connection.check_overrides(cfg)
        options = self.options
        ctx = LocalStepContext(
            step_id=state.id, component=state.component, mode="write", config=cfg, connection=connection,
            work_dir=options.work_dir, temp_dir=self.tmp_dir or Path(options.work_dir),
            batch_rows=options.batch_rows, memory_limit_bytes=options.step_memory_bytes, state=state,
            events=self.events, metrics=self.metrics, cancel=self.cancel, path_roots=tuple(options.path_roots),
            protected_files=tuple(options.protected_files),
        )
        return ctx, self.registry.create(state.component)
