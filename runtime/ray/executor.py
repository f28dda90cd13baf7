"""The Ray backend's coordinator: run a manifest as Ray tasks, record it like a local run.

`RayExecutor` has the local executor's signature, so `runtime.run` writes the session, events,
metrics and status.json alike. It plans stages (plan.py), asks splittable extractors for their
partitions (a task each: workers hold the credentials), submits every stage's tasks with their
inputs as object references (Ray starts a task when its inputs exist), and turns task results
into step events and states as they arrive. Database writers that stage their partitions are
published here, in the coordinator, in one transaction each: if this process dies before that,
no target has changed. Ctrl-C cancels every task and drops the staging tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.manifest_records import Manifest, ManifestStep
from osiris.compiler.path_policy import protected_files
from osiris.runtime.connections import RuntimeConnections
from osiris.runtime.driver import (
    DriverError,
    Partition,
    PartitionedExtractor,
    PartitionHints,
    StagedWriter,
)
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.local.context import StepState
from osiris.runtime.local.executor import ExecOptions, ExecResult
from osiris.runtime.local.step import describe_error, record_completion
from osiris.runtime.ray.exchange import key_family
from osiris.runtime.ray.plan import Capabilities, Plan, Stage, StepShape, plan_stages
from osiris.runtime.ray.staging import StagedTargets
from osiris.runtime.ray.tasks import ChainResult, Failure, StepTask, TaskEnv
from osiris.runtime.registry import DriverRegistry

__all__ = ["RayExecutor", "RayOptions"]

DRAIN_INTERVAL_S = 0.25


@dataclass
class RayOptions:
    address: str | None = None
    """A running cluster (`--ray-address`, RAY_ADDRESS, osiris.yaml `ray_address`); None: a local one."""
    partitions: int | None = None
    """Partitions per splittable source and buckets per hash exchange; None: the cluster's CPUs."""
    cpus: int | None = None
    """CPUs of a local cluster (`--ray-cpus`); None: all of this machine's."""
    max_retries: int = 3
    """Times Ray re-runs a task whose worker died (application errors follow the step's retry policy)."""


@dataclass
class _Schema:
    """What `runtime.run` reads off a step after the run (schemas.json)."""

    schema: Any = None


@dataclass
class _StageRun:
    stage: Stage
    refs: list[Any] = field(default_factory=list)
    """The reports' references, one per task: what the coordinator waits for and fetches."""
    tables: list[Any] = field(default_factory=list)
    """The output tables' references, one per task: what the next stages' tasks take."""
    partitions: list[Partition | None] = field(default_factory=list)
    done: dict[int, ChainResult] = field(default_factory=dict)


class RayExecutor:
    """Callable like `runtime.local.executor.execute`; `runtime.run.run(executor=RayExecutor(...))`."""

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self.last_report: dict[str, Any] = {}

    def __call__(
        self,
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
        from osiris.runtime.ray.cluster import connected

        connections.register_secrets(
            sorted({*manifest.connections, *(s.connection for s in manifest.steps if s.connection)})
        )
        incremental = sorted(step_id for step_id, cfg in cfgs.items() if cfg.get("incremental"))
        if incremental:  # its cursor state commits with one writer's transaction: a local-run guarantee
            return _unavailable(manifest, events, DriverError(
                f"the Ray backend does not run incremental steps ({', '.join(incremental)})",
                hint="run this pipeline without `--backend ray` (docs/incremental.md)"), options, on_change)
        with ExitStack() as stack:
            try:
                ray = stack.enter_context(connected(self.options.address, self.options.cpus))
            except DriverError as error:
                return _unavailable(manifest, events, error, options, on_change)
            run = _Coordinator(ray, self.options, manifest, cfgs, events, metrics, connections, registry,
                               cancel, options, on_change, tmp_dir)
            result = run.go()
            self.last_report = run.report
            return result


class _Coordinator:
    def __init__(self, ray: Any, ray_options: RayOptions, manifest: Manifest, cfgs: Mapping[str, dict[str, Any]],
                 events: EventLog, metrics: MetricLog, connections: RuntimeConnections, registry: DriverRegistry,
                 cancel: threading.Event, options: ExecOptions,
                 on_change: Callable[[StepState], None] | None, tmp_dir: Path | None = None) -> None:
        from osiris.runtime.ray import tasks
        from osiris.runtime.ray.cluster import cluster_cpus
        from osiris.runtime.ray.runlog import RunLog

        self.ray, self.manifest, self.cfgs = ray, manifest, cfgs
        self.events, self.metrics, self.connections, self.registry = events, metrics, connections, registry
        self.cancel, self.options, self.on_change = cancel, options, on_change
        self.retries = ray_options.max_retries
        self.width = ray_options.partitions or cluster_cpus(ray)
        conns = connections.file
        protected = protected_files(options.work_dir, conns)
        self.env = TaskEnv(
            session_id=events.session_id,
            work_dir=str(options.work_dir),
            connections_path=protected[0] if protected else None,
            path_roots=tuple(options.path_roots),
            protected_files=tuple(options.protected_files),
            batch_rows=options.batch_rows,
            memory_bytes=options.step_memory_bytes,
            debug=options.debug,
            overrides=registry.overrides or None,
        )
        self.states = {s.id: StepState(s.id, s.component, s.kind) for s in manifest.steps}
        self.schemas: dict[str, _Schema] = {s.id: _Schema() for s in manifest.steps}
        self.staged = StagedTargets(manifest, cfgs, events=events, metrics=metrics, connections=connections,
                                    registry=registry, options=options, cancel=cancel, tmp_dir=tmp_dir)
        self.tokens = self.staged.tokens
        self.log = ray.remote(num_cpus=0)(RunLog).remote()
        self.remote_plan = ray.remote(tasks.plan_partitions).options(max_retries=self.retries)
        self.remote_stage = ray.remote(tasks.run_stage).options(num_returns=2, max_retries=self.retries,
                                                                retry_exceptions=False)
        self.remote_split = ray.remote(tasks.split_buckets)
        self.runs: dict[int, _StageRun] = {}
        self.labels: dict[tuple[str, int], str] = {}
        self.started_steps: set[str] = set()
        self.staged_counts: dict[str, int] = {}
        self.report: dict[str, Any] = {}

    # -- the run -------------------------------------------------------------------------
    def go(self) -> ExecResult:
        plan = self._plan()
        self.events.emit("ray_plan", stages=plan.describe(), partitions=self.width)
        self.report = {"stages": plan.describe(), "partitions": self.width}
        self.staged.sweep()
        pending = list(plan.stages)
        waiting: dict[Any, tuple[int, int]] = {}
        last_drain = 0.0
        try:
            while True:
                pending = self._submit_ready(plan, pending, waiting)
                if not waiting and not pending:
                    break
                if self.cancel.is_set():
                    self._cancel_all(waiting, pending)
                    break
                if not waiting:  # stages wait only on steps that can no longer finish
                    for stage in pending:
                        self._skip_stage(stage, self._blocking_origin(stage))
                    pending = []
                    continue
                ready, _ = self.ray.wait(list(waiting), num_returns=1, timeout=DRAIN_INTERVAL_S)
                if time.monotonic() - last_drain >= DRAIN_INTERVAL_S or ready:
                    self._drain()
                    last_drain = time.monotonic()
                for ref in ready:
                    stage_index, partition = waiting.pop(ref)
                    self._arrived(plan, stage_index, partition, self._fetch(ref, stage_index, partition))
        finally:
            self._drain()
        status = "cancelled" if self.cancel.is_set() else (
            "succeeded" if all(s.status == "succeeded" for s in self.states.values()) else "failed")
        return ExecResult(status, self.states, dict(self.schemas))  # type: ignore[arg-type]

    def _plan(self) -> Plan:
        def capabilities(component: str) -> Capabilities:
            try:
                driver = self.registry.create(component)
            except Exception:  # noqa: BLE001 - the task reports a missing driver as the step's error
                return Capabilities()
            return Capabilities(isinstance(driver, PartitionedExtractor), isinstance(driver, StagedWriter))

        def classifier(sql: str, names: Any, scope: str | None, by: Any) -> Any:
            from osiris.runtime.ray.scope import classify  # sqlglot's parser: only for SQL steps

            return classify(sql, names, override=scope, by=by)

        return plan_stages(self.manifest, self.cfgs, capabilities, classifier)

    # -- submission ----------------------------------------------------------------------
    def _submit_ready(self, plan: Plan, pending: list[Stage], waiting: dict[Any, tuple[int, int]]) -> list[Stage]:
        """Submit every stage whose data sources are submitted and whose ordering-only `needs`
        have finished; returns the stages still waiting."""
        still = []
        for stage in pending:
            first = self.manifest.step(stage.steps[0])
            sources = {src.step for src in first.inputs.values()}
            ordering = [n for s in stage.steps for n in self.manifest.step(s).needs
                        if n not in sources and n not in stage.steps]
            if any(_stage_key(plan, s) not in self.runs for s in sources):
                still.append(stage)
                continue
            if stage.shape == "hash" and not self._hash_inputs_ready(plan, stage):
                still.append(stage)
                continue
            unfinished = [n for n in ordering if self.states[n].status in ("pending", "waiting", "running")]
            if unfinished:
                still.append(stage)
                continue
            failed = [n for n in ordering if self.states[n].status != "succeeded"]
            if failed:
                self._skip_stage(stage, failed[0])
                self.runs[_stage_key(plan, stage.steps[0])] = _StageRun(stage)
                continue
            self._submit(plan, stage, waiting)
        return still

    def _hash_inputs_ready(self, plan: Plan, stage: Stage) -> bool:
        """A hash exchange starts once its inputs are complete, so their key types are known: keys
        of types DuckDB compares only after an implicit cast ('5' = 5, DECIMAL = REAL, timestamp
        = timestamptz) do not hash alike, and such a step runs as one task instead."""
        first = self.manifest.step(stage.steps[0])
        runs = {name: self.runs[_stage_key(plan, src.step)] for name, src in first.inputs.items()}
        if any(len(run.done) < len(run.refs) for run in runs.values()):
            return False
        shape = plan.shapes[first.id]
        families = {}
        for name, run in runs.items():
            producer = first.inputs[name].step
            schema = next((r.reports[producer].schema for r in run.done.values()
                           if producer in r.reports and r.reports[producer].schema is not None), None)
            if schema is None:
                continue  # failed or empty: the stage is skipped or sees nothing
            families[name] = tuple(key_family(schema, column) for column in shape.keys.get(name, ()))
        if len(set(families.values())) > 1 or any(None in f for f in families.values()):
            reason = "key types differ between inputs: " + ", ".join(
                f"{name} {'/'.join(str(x) for x in fams)}" for name, fams in sorted(families.items()))
            plan.shapes[first.id] = StepShape(first.id, "single", reason)
            stage.shape = "single"
            self.events.emit("ray_replan", step_id=first.id, component=first.component, shape="single",
                             reason=reason)
        return True

    def _submit(self, plan: Plan, stage: Stage, waiting: dict[Any, tuple[int, int]]) -> None:
        key = _stage_key(plan, stage.steps[0])
        run = _StageRun(stage)
        self.runs[key] = run
        chain = [StepTask(self.manifest.step(s), self.cfgs[s],
                          self.tokens[s] if plan.shapes[s].shape == "staged" else None) for s in stage.steps]
        first = chain[0].step
        for sid in stage.steps:
            self.states[sid].status = "waiting"
            if plan.shapes[sid].shape == "staged":
                self.staged_counts[sid] = 0
        if stage.shape == "source":
            partitions = self._partitions(first, chain[0])
            if partitions is None:
                self._skip_stage(stage, first.id)
                return
            run.partitions = partitions
            self._record_staging(stage, plan, len(partitions))
            for index, partition in enumerate(partitions):
                ref, table = self.remote_stage.remote(self.env, chain, index, partition, [], self.log)
                run.refs.append(ref)
                run.tables.append(table)
                waiting[ref] = (key, index)
            return
        inputs = {name: self.runs[_stage_key(plan, src.step)].tables for name, src in first.inputs.items()}
        missing = [src.step for name, src in first.inputs.items() if not inputs[name]]
        if missing:  # its source never ran (a failed plan, a skipped stage)
            self._skip_stage(stage, self._origin(missing[0]))
            return
        shape = plan.shapes[first.id]
        if stage.shape in ("local", "staged"):
            (name, refs), = inputs.items()
            groups = [([(name, 1)], [ref]) for ref in refs]
        elif stage.shape == "hash":
            buckets = getattr(getattr(first, "partitions", None), "count", None) or self.width
            split = {name: [self.remote_split.options(num_returns=buckets).remote(ref, shape.keys[name], buckets,
                                                                                  first.id)
                            for ref in refs] for name, refs in inputs.items()}
            split = {name: [parts if buckets > 1 else [parts] for parts in lists] for name, lists in split.items()}
            groups = [([(name, len(lists)) for name, lists in split.items()],
                       [parts[b] for lists in split.values() for parts in lists]) for b in range(buckets)]
        else:
            groups = [([(name, len(refs)) for name, refs in inputs.items()],
                       [ref for refs in inputs.values() for ref in refs])]
        self._record_staging(stage, plan, len(groups))
        for index, (layout, payloads) in enumerate(groups):
            ref, table = self.remote_stage.remote(self.env, chain, index, None, layout, self.log, *payloads)
            run.refs.append(ref)
            run.tables.append(table)
            run.partitions.append(None)
            waiting[ref] = (key, index)

    def _partitions(self, step: ManifestStep, task: StepTask) -> list[Partition | None] | None:
        """The partitions of a source step: planned by its driver in a task, or one."""
        hints = getattr(step, "partitions", None)
        count = getattr(hints, "count", None) or self.width
        key = getattr(hints, "column", None)
        bounds = getattr(hints, "bounds", None)
        can_split = _is_splittable(self.registry, step.component)
        if count <= 1 or not can_split:
            return [None]
        planned = self.ray.get(self.remote_plan.remote(
            self.env, task, PartitionHints(count, key, tuple(bounds) if bounds else None)))
        if isinstance(planned, Failure):
            self._start_steps([step.id])
            self._fail(step.id, planned)
            return None
        for partition in planned:
            self.labels[(step.id, partition.index)] = partition.label
        return list(planned)

    # -- results -------------------------------------------------------------------------
    def _fetch(self, ref: Any, stage_index: int, partition: int) -> ChainResult:
        try:
            return self.ray.get(ref)
        except Exception as error:  # noqa: BLE001 - a lost worker after its retries, a cancelled task
            first = self.runs[stage_index].stage.steps[0]
            stopped = [src.step for src in self.manifest.step(first).inputs.values()
                       if self.states[src.step].status in ("failed", "skipped")]
            if stopped:  # its input was lost with an upstream task: that failure is the cause
                return ChainResult(partition, failure=Failure(upstream=self._origin(stopped[0])))
            failure = Failure(step_id=first, error=describe_error(error))
            failure.error["message"] = f"the Ray task for partition {partition} was lost: {failure.error['message']}"
            return ChainResult(partition, failure=failure)

    def _arrived(self, plan: Plan, stage_index: int, partition: int, result: ChainResult) -> None:
        run = self.runs[stage_index]
        run.done[partition] = result
        steps = run.stage.steps
        self._start_steps(steps)
        if result.started_wall:  # the task's own start, on this process's clock (the drain only polls)
            began = time.monotonic() - max(0.0, time.time() - result.started_wall)
            for sid in steps:
                state = self.states[sid]
                state.started = min(state.started, began) if state.started is not None else began
        for _, name, recorded in result.events:
            fields = dict(recorded)
            step_id = fields.pop("step_id", None)
            self.events.emit(name, step_id=step_id, **fields)
        for _, name, value, unit, tags in result.metrics:
            tags = dict(tags)
            step_id = tags.pop("step_id", None)
            self.metrics.emit(name, value, unit, step_id=step_id, **tags)
        failure = result.failure
        failed_at = failure.step_id if failure is not None else None
        for sid in steps:
            report = result.reports.get(sid)
            state = self.states[sid]
            if report is not None:
                for retry in report.retries:
                    self.events.emit("retry", step_id=sid, component=state.component, partition=partition, **retry)
                state.attempts = max(state.attempts, report.attempts)
                state.rows_in += report.rows_in
                state.rows_out += report.rows_out
                state.bytes_out += report.bytes_out
                state.rows_written += report.rows_written
                state.bytes_written += report.bytes_written
                state.target = report.target or state.target
                state.peak_rss_bytes = max(state.peak_rss_bytes, result.peak_rss_bytes)
                if report.schema is not None:
                    self.schemas[sid].schema = report.schema
                self.events.emit(
                    "partition_complete", step_id=sid, component=state.component, partition=partition,
                    rows=report.rows_written if state.kind == "writer" else report.rows_out,
                    worker=result.worker, attempt=result.attempt, duration_ms=result.duration_ms,
                )
            elif sid == failed_at:
                self._fail(sid, failure)
        if failure is not None and failure.upstream is not None:
            for sid in steps:
                if self.states[sid].status not in ("failed", "skipped"):
                    self._skip(sid, failure.upstream)
        elif failed_at is not None:
            after = steps[steps.index(failed_at) + 1:] if failed_at in steps else []
            for sid in after:
                if self.states[sid].status not in ("failed", "skipped"):
                    self._skip(sid, failed_at)
        if len(run.done) == len(run.refs):
            self._finish_stage(plan, stage_index)

    def _finish_stage(self, plan: Plan, stage_index: int) -> None:
        run = self.runs[stage_index]
        for sid in run.stage.steps:
            state = self.states[sid]
            if state.status in ("failed", "skipped", "cancelled"):
                if plan.shapes[sid].shape == "staged":
                    self._discard(sid, len(run.refs))
                continue
            if plan.shapes[sid].shape == "staged":
                self._publish(sid, len(run.refs))
                if state.status == "failed":
                    continue
            state.status = "succeeded"
            state.finished = time.monotonic()
            record_completion(self.events, self.metrics, self.manifest.step(sid), state)
            self._changed(state)

    def _publish(self, sid: str, partitions: int) -> None:
        """Move every staged partition into the target, in one transaction, from here."""
        state = self.states[sid]
        try:
            written = self.staged.publish(state, partitions)
        except Exception as error:  # noqa: BLE001 - the step's failure, target unchanged
            self._fail(sid, Failure(step_id=sid, error=describe_error(error)))
            self.staged.discard(state, partitions)
            return
        state.rows_written, state.bytes_written = int(written.rows), int(written.bytes)
        state.target = str(written.target) or state.target
        self.events.emit("publish_complete", step_id=sid, component=state.component, partitions=partitions,
                         rows_written=state.rows_written)

    def _discard(self, sid: str, partitions: int) -> None:
        self.staged.discard(self.states[sid], partitions)

    def _record_staging(self, stage: Stage, plan: Plan, partitions: int) -> None:
        self.staged.record([sid for sid in stage.steps if plan.shapes[sid].shape == "staged"], partitions)

    # -- events and states -----------------------------------------------------------------
    def _drain(self) -> None:
        try:
            started = self.ray.get(self.log.drain.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - the log is a convenience; results still arrive
            return
        for record in started:
            sid = record["step_id"]
            stage = next((r.stage for r in self.runs.values() if r.stage.steps[0] == sid), None)
            self._start_steps(stage.steps if stage is not None else [sid])
            partition = record["partition"]
            fields = {"partition": partition, "worker": {"node": record.get("node"), "pid": record.get("pid")},
                      "attempt": record["attempt"]}
            label = self.labels.get((sid, partition))
            if label:
                fields["label"] = label
            if record["attempt"] > 1:
                self.events.emit("partition_retry", step_id=sid, component=self.states[sid].component,
                                 reason="the worker running the previous attempt was lost", **fields)
            self.events.emit("partition_start", step_id=sid, component=self.states[sid].component, **fields)

    def _start_steps(self, steps: list[str]) -> None:
        for sid in steps:
            if sid in self.started_steps:
                continue
            self.started_steps.add(sid)
            step, state = self.manifest.step(sid), self.states[sid]
            state.status = "running"
            state.started = time.monotonic()
            state.attempts = max(state.attempts, 1)
            self.events.emit(
                "step_start", step_id=sid, component=step.component, kind=step.kind, mode=step.mode, attempt=1,
                connection=step.connection,
                inputs={name: {"step": src.step, "streaming": False} for name, src in step.inputs.items()},
            )
            self._changed(state)

    def _fail(self, sid: str, failure: Failure) -> None:
        state = self.states[sid]
        if state.status == "failed":
            return
        state.status = "failed"
        state.finished = time.monotonic()
        state.error = dict(failure.error or {"error_type": "Error", "message": "the step failed", "transient": False})
        source = self.options.sources.get(sid)
        if source is not None:
            state.error["source"] = source
        fields = dict(state.error)
        if self.options.debug and failure.traceback:
            fields["traceback"] = failure.traceback
        self.events.emit("step_error", step_id=sid, component=state.component, attempt=state.attempts, **fields)
        self._changed(state)

    def _skip(self, sid: str, origin: str) -> None:
        state = self.states[sid]
        started = state.started is not None
        state.status = "skipped"
        state.finished = time.monotonic()
        state.skip_reason = f"upstream step {origin} did not succeed"
        self.events.emit("step_skipped", step_id=sid, component=state.component, reason=state.skip_reason,
                         upstream=origin, rolled_back=started)
        self._changed(state)

    def _skip_stage(self, stage: Stage, origin: str) -> None:
        for sid in stage.steps:
            if self.states[sid].status not in ("failed", "skipped", "cancelled", "succeeded"):
                self._skip(sid, origin)

    def _blocking_origin(self, stage: Stage) -> str:
        for sid in stage.steps:
            for need in self.manifest.step(sid).needs:
                if self.states[need].status != "succeeded":
                    return need
        return stage.steps[0]

    def _origin(self, sid: str) -> str:
        """The step whose failure stopped `sid`: itself when it failed, else what it was skipped for."""
        state = self.states[sid]
        if state.status == "skipped" and state.skip_reason:
            return state.skip_reason.removeprefix("upstream step ").removesuffix(" did not succeed")
        return sid

    def _cancel_all(self, waiting: dict[Any, tuple[int, int]], pending: list[Stage]) -> None:
        for ref in list(waiting):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished
                pass
        for run in self.runs.values():
            for sid in run.stage.steps:
                if self.states[sid].status in ("succeeded", "failed", "skipped"):
                    continue
                if run.refs and sid in self.staged_counts:
                    self._discard(sid, len(run.refs))
                self._cancelled(sid)
        for stage in pending:
            for sid in stage.steps:
                self._cancelled(sid)

    def _cancelled(self, sid: str) -> None:
        state = self.states[sid]
        if state.status in ("succeeded", "failed", "skipped", "cancelled"):
            return
        started = state.started is not None
        state.status = "cancelled"
        state.finished = time.monotonic()
        self.events.emit("step_cancelled", step_id=sid, component=state.component, started=started,
                         rows_read=state.rows_read)
        self._changed(state)

    def _changed(self, state: StepState) -> None:
        if self.on_change is not None:
            try:
                self.on_change(state)
            except Exception:  # noqa: BLE001 - a status write must not stop the run
                pass


def _unavailable(manifest: Manifest, events: EventLog, error: DriverError, options: ExecOptions,
                 on_change: Callable[[StepState], None] | None) -> ExecResult:
    """No cluster to run on (or a pipeline it cannot run): the first steps fail with why, the
    others are skipped."""
    states = {s.id: StepState(s.id, s.component, s.kind) for s in manifest.steps}
    first = set(manifest.levels[0]) if manifest.levels else {manifest.order[0]}
    for step in manifest.steps:
        state = states[step.id]
        if step.id in first:
            state.status = "failed"
            state.error = describe_error(error)
            if options.sources.get(step.id):
                state.error["source"] = options.sources[step.id]
            events.emit("step_error", step_id=step.id, component=step.component, attempt=0, **state.error)
        else:
            state.status, state.skip_reason = "skipped", f"upstream step {sorted(first)[0]} did not succeed"
            events.emit("step_skipped", step_id=step.id, component=step.component, reason=state.skip_reason,
                        upstream=sorted(first)[0], rolled_back=False)
        if on_change is not None:
            on_change(state)
    return ExecResult("failed", states, {})


def _stage_key(plan: Plan, step_id: str) -> int:
    """A stage's number: its position in the plan (the stage holding `step_id`)."""
    stage = plan.stage_of(step_id)
    return next(i for i, s in enumerate(plan.stages) if s is stage)


def _is_splittable(registry: DriverRegistry, component: str) -> bool:
    try:
        return isinstance(registry.create(component), PartitionedExtractor)
    except Exception:  # noqa: BLE001
        return False
