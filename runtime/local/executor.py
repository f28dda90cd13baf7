"""The local streaming executor: every step on its own thread, data over bounded channels.

`execute()` wires the manifest's edges (see `wiring`), starts one thread per step and one
drainer per spilled output, waits for all of them (waking on the cancel event, so Ctrl-C is
handled by the caller's signal handler), and returns every step's final state. It never
reads OML: the manifest and the cfg files are all it runs.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.manifest_records import Manifest
from osiris.runtime.connections import RuntimeConnections
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.local.context import StepState
from osiris.runtime.local.cursors import link_cursors
from osiris.runtime.local.rss import RssSampler
from osiris.runtime.local.step import StepEnv, StepRunner
from osiris.runtime.local.wiring import wire
from osiris.runtime.registry import DriverRegistry

__all__ = ["ExecOptions", "ExecResult", "execute"]

MiB = 1024 * 1024


@dataclass
class ExecOptions:
    work_dir: Path
    batch_rows: int = 65536
    channel_capacity: int = 4
    """Batches an edge holds before its producer waits (memory per edge is bounded by this)."""
    step_memory_bytes: int = 512 * MiB
    keep_spill: bool = False
    debug: bool = False
    path_roots: tuple[str, ...] = ()
    """Directories outside `work_dir` that config paths may use (`filesystem: roots:` in the
    connections file; compiler/path_policy.py)."""
    protected_files: tuple[str, ...] = ()
    """Absolute paths no step may read or write: the connections file in use, whatever its name."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Step id -> `pipeline.yaml:LINE:COLUMN` (from sourcemap.json), cited by a failed step's error."""


@dataclass
class ExecResult:
    status: str
    """succeeded | failed | cancelled"""
    steps: dict[str, StepState]
    runners: dict[str, StepRunner] = field(default_factory=dict)

    @property
    def failed(self) -> list[StepState]:
        return [s for s in self.steps.values() if s.status == "failed"]


def execute(
    manifest: Manifest,
    cfgs: Mapping[str, dict[str, Any]],
    *,
    events: EventLog,
    metrics: MetricLog,
    tmp_dir: Path,
    connections: RuntimeConnections,
    registry: DriverRegistry,
    cancel: threading.Event,
    options: ExecOptions,
    on_change: Callable[[StepState], None] | None = None,
) -> ExecResult:
    """Run every step of `manifest`; returns when all steps have finished, failed or stopped.

    The manifest and `cfgs` are all it reads: no component spec, no compiler pass."""
    spill_dir = tmp_dir / "spill"
    spill_dir.mkdir(parents=True, exist_ok=True)
    env = StepEnv(
        events=events,
        metrics=metrics,
        registry=registry,
        connections=connections,
        cancel=cancel,
        work_dir=options.work_dir,
        tmp_dir=tmp_dir,
        batch_rows=options.batch_rows,
        step_memory_bytes=options.step_memory_bytes,
        sources=options.sources,
        debug=options.debug,
        path_roots=options.path_roots,
        protected_files=options.protected_files,
        on_change=on_change,
    )
    connections.register_secrets(
        sorted({*manifest.connections, *(s.connection for s in manifest.steps if s.connection)})
    )
    wiring = wire(manifest, spill_dir, options.channel_capacity, cancel)
    states = {step.id: StepState(step.id, step.component, step.kind) for step in manifest.steps}
    runners: dict[str, StepRunner] = {}
    for step_id in manifest.order:
        step = manifest.step(step_id)
        runners[step_id] = StepRunner(
            step,
            cfgs[step_id],
            states[step_id],
            env,
            wiring.inputs[step_id],
            wiring.outputs[step_id],
            [runners[n] for n in wiring.ordering[step_id]],
        )
    links, commits = link_cursors(
        manifest, cfgs, lambda keeper, step_id: runners[keeper].state_reader(step_id, manifest.pipeline.name)
    )
    for step_id, link in links.items():
        runners[step_id].cursor = link
    for step_id, commit in commits.items():
        runners[step_id].state_commit = commit
    for runner in runners.values():
        # ordering-only waits too: a step still waiting for this one keeps it reading to the end
        for upstream in {b.producer for b in runner.inputs} | set(wiring.ordering[runner.step.id]):
            runners[upstream].dependents.append(runner)
    sampler = RssSampler(lambda: [s for s in states.values() if s.status == "running"])
    threads = [
        threading.Thread(target=r.run, name=f"step:{r.step.id}", daemon=True) for r in runners.values()
    ]
    sampler.start()
    try:
        _start([s.thread for s in wiring.spillers] + threads, cancel)
        _join(threads, wiring.spillers, cancel)
    finally:
        sampler.stop()
        if not options.keep_spill:
            shutil.rmtree(spill_dir, ignore_errors=True)
            shutil.rmtree(tmp_dir / "steps", ignore_errors=True)
    if cancel.is_set():
        status = "cancelled"
    elif all(s.status == "succeeded" for s in states.values()):
        status = "succeeded"
    else:
        status = "failed"
    return ExecResult(status, states, runners)


def _start(threads: list[threading.Thread], cancel: threading.Event) -> None:
    """Start every thread; a KeyboardInterrupt meanwhile cancels the run, as in `_join`.

    The first step may already be reading while later threads start, so an embedder's Ctrl-C
    can land here; every thread is still started, so each one ends `cancelled` on its own.
    """
    for thread in threads:
        try:
            thread.start()
        except KeyboardInterrupt:
            if cancel.is_set():
                raise
            cancel.set()
            if thread.ident is None:  # interrupted before the thread existed
                thread.start()


def _join(threads: list[threading.Thread], spillers: list, cancel: threading.Event) -> None:  # noqa: ANN001
    """Wait for every step and drainer; a KeyboardInterrupt here cancels the run cleanly."""
    while True:
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)
            for spiller in spillers:
                spiller.thread.join()
            return
        except KeyboardInterrupt:  # embedders without a SIGINT handler: same as the CLI's first Ctrl-C
            if cancel.is_set():
                raise  # the second one stops waiting
            cancel.set()
