"""Run one manifest step on its own thread: wait for inputs, call the driver, retry, report.

Outcomes: `succeeded`; `failed` (the driver raised); `skipped` (an upstream step did not
succeed, so this step never ran or its half-written output was rolled back); `cancelled` (the
run was cancelled, or every step that takes this step's output stopped without succeeding,
so the rest of its input was left unread; `skip_reason` says which).

Retry rule (docs/runtime.md): a `TransientError` is retried, up to the step's
`retry.max_attempts`, with exponential backoff, only while nothing the attempt did is
visible to other steps or lost to it: no batch was pushed downstream yet, and no batch was
taken from a live (non-spilled) input yet. Spilled inputs are re-read from the start.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from osiris.compiler.manifest_records import ManifestStep
from osiris.runtime.backoff import backoff_delay
from osiris.runtime.connections import RuntimeConnections, step_ref
from osiris.runtime.driver import (
    Cancelled,
    DriverError,
    ResolvedConnection,
    TransientError,
    WriteResult,
    iter_batches,
)
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.local.channel import Channel, UpstreamFailed
from osiris.runtime.local.context import LocalStepContext, StepState
from osiris.runtime.local.cursors import CursorLink, StateCommit
from osiris.runtime.local.rss import current_rss_bytes
from osiris.runtime.local.spill import SpillTable
from osiris.runtime.local.wiring import Binding
from osiris.runtime.registry import DriverRegistry

__all__ = ["StepEnv", "StepRunner", "describe_error", "record_completion"]


class _NotRetryable(Exception):
    """Wraps a transient error that may not be retried because data already moved."""


class _Unwanted(Exception):
    """Every step that takes this step's output stopped without succeeding: stop reading."""

    def __init__(self, dependents: list[str]) -> None:
        super().__init__(", ".join(dependents))
        self.dependents = dependents


_STOPPED = frozenset({"failed", "skipped", "cancelled"})


@dataclass
class StepEnv:
    """What every step runner shares: the run's services and settings."""

    events: EventLog
    metrics: MetricLog
    registry: DriverRegistry
    connections: RuntimeConnections
    cancel: threading.Event
    work_dir: Path
    tmp_dir: Path
    batch_rows: int
    step_memory_bytes: int
    sources: Mapping[str, str] = field(default_factory=dict)
    """Step id -> where the OML writes it (`pipeline.yaml:12:3`), cited by a failed step's error."""
    debug: bool = False
    on_change: Callable[[StepState], None] | None = None
    """Called after a step starts and after it ends (status.json updates, live display)."""
    path_roots: tuple[str, ...] = ()
    """Directories outside `work_dir` that config paths may use (ExecOptions.path_roots)."""
    protected_files: tuple[str, ...] = ()
    """Paths no step may touch (ExecOptions.protected_files)."""

    def changed(self, state: StepState) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(state)
        except Exception:  # noqa: BLE001 - a status write must not kill the step's thread
            logging.getLogger("osiris.runtime").warning(
                "could not record the state of step %s", state.id, exc_info=True
            )


class StepRunner:
    def __init__(
        self,
        step: ManifestStep,
        cfg: dict[str, Any],
        state: StepState,
        env: StepEnv,
        inputs: list[Binding],
        outputs: list[Channel],
        ordering: list[StepRunner],
    ) -> None:
        self.step, self.cfg, self.state, self.env = step, cfg, state, env
        self.inputs, self.outputs, self.ordering = inputs, outputs, ordering
        self.done = threading.Event()
        self.origin: str | None = None
        """The step whose failure made this one fail or skip (itself when it failed)."""
        self.traceback: str | None = None
        self.schema: pa.Schema | None = None
        self.dependents: list[StepRunner] = []
        """Steps that take this step's output or wait for it (set by the executor)."""
        self.cursor: CursorLink | None = None
        """An incremental extractor's link to its stored state (set by the executor)."""
        self.state_commit: StateCommit | None = None
        """The incremental states this writer commits with its rows (set by the executor)."""

    # -- thread body ---------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
            self._complete()
        except Cancelled:
            self._cancel()
        except _Unwanted as unwanted:
            self._cancel(unwanted.dependents)
        except UpstreamFailed as upstream:
            self._skip(upstream.origin)
        except BaseException as error:  # noqa: BLE001 - a bug must still end the step cleanly
            self._fail(error)
        finally:
            for binding in self.inputs:
                if binding.channel is not None:
                    binding.channel.abandon()
            if self.state.status != "succeeded":
                for channel in self.outputs:
                    channel.fail(self.origin or self.step.id)
            self.state.finished = time.monotonic()
            self.done.set()
            self.env.changed(self.state)

    def _run(self) -> None:
        self.state.status = "waiting"
        for upstream in self.ordering:
            while not upstream.done.wait(0.2):
                self._check_cancelled()
            if upstream.state.status != "succeeded":
                raise UpstreamFailed(upstream.origin or upstream.step.id)
        tables = {b.name: b.spiller.wait() for b in self.inputs if b.spiller is not None}
        for binding in self.inputs:
            if binding.channel is not None:
                binding.channel.wait_schema()
        self.state.rows_in = sum(t.num_rows for t in tables.values()) if self.step.kind == "transform" else 0
        connection = self._connection()
        driver = self.env.registry.create(self.step.component)
        self._attempts(driver, connection, tables)

    def _attempts(
        self, driver: Any, connection: ResolvedConnection | None, tables: dict[str, SpillTable]
    ) -> None:
        policy = self.step.retry
        attempt = 1
        while True:
            self.state.attempts = attempt
            self._start(attempt)
            try:
                self._attempt(driver, connection, tables, attempt)
                return
            except TransientError as error:
                if attempt >= policy.max_attempts:
                    raise
                if not self._retry_safe():
                    raise _NotRetryable() from error
                delay = backoff_delay(policy.backoff_seconds, attempt, policy.max_backoff_seconds)
                self.env.events.emit(
                    "retry",
                    step_id=self.step.id,
                    component=self.step.component,
                    attempt=attempt,
                    next_attempt=attempt + 1,
                    delay_s=round(delay, 3),
                    max_attempts=policy.max_attempts,
                    error=str(error),
                )
                if self.env.cancel.wait(delay):
                    raise Cancelled("the run was cancelled") from None
                attempt += 1

    def _start(self, attempt: int) -> None:
        state = self.state
        if state.started is None:
            state.started = time.monotonic()
        state.status = "running"
        state.peak_rss_bytes = max(state.peak_rss_bytes, current_rss_bytes())
        state.rows_out = state.bytes_out = state.reported_rows = state.reported_bytes = 0
        if self.step.kind == "writer":
            state.rows_in = 0
        self.env.events.emit(
            "step_start",
            step_id=self.step.id,
            component=self.step.component,
            kind=self.step.kind,
            mode=self.step.mode,
            attempt=attempt,
            connection=self.step.connection,
            inputs={b.name: {"step": b.producer, "streaming": b.streaming} for b in self.inputs},
        )
        self.env.changed(state)

    def _context(self, connection: ResolvedConnection | None, attempt: int, label: str) -> LocalStepContext:
        temp_dir = self.env.tmp_dir / "steps" / self.step.id / label
        temp_dir.mkdir(parents=True, exist_ok=True)
        return LocalStepContext(
            step_id=self.step.id,
            component=self.step.component,
            mode=self.step.mode,
            config=self.cfg,
            connection=connection,
            work_dir=self.env.work_dir,
            path_roots=self.env.path_roots,
            protected_files=self.env.protected_files,
            temp_dir=temp_dir,
            batch_rows=self.env.batch_rows,
            memory_limit_bytes=self.env.step_memory_bytes,
            state=self.state,
            events=self.env.events,
            metrics=self.env.metrics,
            cancel=self.env.cancel,
            attempt=attempt,
            state_commit=self.state_commit,
        )

    def state_reader(self, step_id: str, pipeline: str) -> Callable[[], str | None]:
        """How an incremental extractor reads its stored state through this (keeper) step."""

        def read() -> str | None:
            driver = self.env.registry.create(self.step.component)
            ctx = self._context(self._connection(), 0, "state")
            return _call(driver, "read_state", self.step.component)(ctx, pipeline, step_id)

        return read

    def _attempt(
        self, driver: Any, connection: ResolvedConnection | None, tables: dict[str, SpillTable], attempt: int
    ) -> None:
        ctx = self._context(connection, attempt, f"attempt-{attempt}")
        kind = self.step.kind
        if kind == "extractor" and self.cursor is not None:
            ctx.incremental = self.cursor.begin(ctx)
            tracker = self.cursor.tracker
            assert tracker is not None  # begin() made it
            source = _reader(_call(driver, "extract", self.step.component)(ctx), self.step.component)
            try:
                self._emit(tracker.wrap(source))
            finally:
                source.close()
            ctx.event("incremental_read", cursor=tracker.spec.cursor, rows=tracker.rows,
                      null_cursor_rows=tracker.null_rows, dropped_at_boundary=tracker.dropped,
                      maximum=None if tracker.maximum is None else str(tracker.maximum))
        elif kind == "extractor":
            self._emit(_call(driver, "extract", self.step.component)(ctx))
        elif kind == "transform":
            self._emit(_call(driver, "transform", self.step.component)(ctx, dict(tables)))
        else:
            self._write(_call(driver, "write", self.step.component)(ctx, self._writer_input(tables)))
        self._check_cancelled()

    # -- data movement -------------------------------------------------------------------
    def _emit(self, reader: Any) -> None:
        reader = _reader(reader, self.step.component)
        state = self.state
        try:
            for batch in iter_batches(reader):
                self._check_cancelled()
                state.rows_out += batch.num_rows
                state.bytes_out += batch.nbytes
                delivered = [channel.put(batch) for channel in self.outputs]
                if self.outputs and not any(delivered):
                    self._check_wanted()
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        self.schema = reader.schema
        for channel in self.outputs:
            channel.close(reader.schema)

    def _writer_input(self, tables: dict[str, SpillTable]) -> pa.RecordBatchReader:
        if len(self.inputs) != 1:
            raise DriverError(
                f"a writer needs exactly one input; {self.step.id} has {len(self.inputs)}",
                hint="give the writer one upstream step in `needs` or `inputs`",
            )
        binding = self.inputs[0]
        if binding.channel is not None:
            source = binding.channel.reader()
        else:
            source = tables[binding.name].reader()
        self.schema = source.schema
        return pa.RecordBatchReader.from_batches(source.schema, self._count(source))

    def _count(self, source: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        for batch in source:
            self.state.rows_in += batch.num_rows
            yield batch

    def _write(self, result: Any) -> None:
        if not isinstance(result, WriteResult):
            raise DriverError(f"{self.step.component} returned {type(result).__name__}, not a WriteResult")
        binding = self.inputs[0]
        if binding.channel is not None and binding.channel.failed:
            raise UpstreamFailed(binding.channel.failed)
        self.state.rows_written = int(result.rows)
        self.state.bytes_written = int(result.bytes)
        self.state.target = str(result.target)

    def _check_wanted(self) -> None:
        """Raise _Unwanted when no step is left that could use the rest of this step's output.

        Every channel refusing batches means every streaming consumer stopped. Reading on
        (discarding each batch) would pull the whole source for nothing, so the step stops,
        unless a consumer succeeded with what it took or a step still waits for this one:
        those need this step to end `succeeded`, as before.
        """
        if self.dependents and all(d.state.status in _STOPPED for d in self.dependents):
            raise _Unwanted([d.step.id for d in self.dependents])

    def _retry_safe(self) -> bool:
        if self.state.rows_out:  # a batch went downstream (`iter_batches` never yields an empty one)
            return False
        return all(b.channel is None or b.channel.taken == 0 for b in self.inputs)

    # -- outcomes ------------------------------------------------------------------------
    def _complete(self) -> None:
        state = self.state
        state.status = "succeeded"
        state.finished = time.monotonic()
        self.origin = None
        state.peak_rss_bytes = max(state.peak_rss_bytes, current_rss_bytes())
        record_completion(self.env.events, self.env.metrics, self.step, state)

    def _connection(self) -> ResolvedConnection | None:
        ref = step_ref(self.step.family, self.step.connection, self.env.connections)
        if ref is None:
            return None
        connection = self.env.connections.resolve(ref, step_id=self.step.id)
        connection.check_overrides(self.cfg)  # whatever the driver does: docs/connections.md
        return connection

    def _check_cancelled(self) -> None:
        if self.env.cancel.is_set():
            raise Cancelled("the run was cancelled")

    def _cancel(self, unwanted: list[str] | None = None) -> None:
        """Cancelled by the run's cancel event, or (`unwanted`) because its consumers all stopped."""
        started = self.state.started is not None
        self.state.status = "cancelled"
        self.origin = self.step.id
        fields: dict[str, Any] = {}
        if unwanted and not self.env.cancel.is_set():
            reason = f"stopped reading: every step that takes its output stopped ({', '.join(unwanted)})"
            self.state.skip_reason = reason
            fields = {"reason": reason, "downstream": unwanted}
        self.env.events.emit(
            "step_cancelled",
            step_id=self.step.id,
            component=self.step.component,
            started=started,
            rows_read=self.state.rows_read,
            **fields,
        )

    def _skip(self, origin: str) -> None:
        started = self.state.started is not None
        if self.env.cancel.is_set():
            self._cancel()
            return
        self.state.status = "skipped"
        self.origin = origin
        reason = f"upstream step {origin} did not succeed"
        self.state.skip_reason = reason
        self.env.events.emit(
            "step_skipped",
            step_id=self.step.id,
            component=self.step.component,
            reason=reason,
            upstream=origin,
            rolled_back=started,
        )

    def _fail(self, error: BaseException) -> None:
        if isinstance(error, _NotRetryable) and error.__cause__ is not None:
            cause = error.__cause__
            note = "not retried: the step had already passed data downstream"
        else:
            cause, note = error, None
        # An upstream failure seen through a driver that wrapped our exception is a skip.
        for binding in self.inputs:
            if binding.channel is not None and binding.channel.failed and not self.env.cancel.is_set():
                self._skip(binding.channel.failed)
                return
        if self.env.cancel.is_set():
            self._cancel()
            return
        self.state.status = "failed"
        self.origin = self.step.id
        self.traceback = "".join(traceback.format_exception(cause))
        self.state.error = describe_error(cause, note)
        source = self.env.sources.get(self.step.id)
        if source is not None:
            self.state.error["source"] = source  # the OML line of the step: `pipeline.yaml:12:3`
        fields: dict[str, Any] = dict(self.state.error)
        if self.env.debug:
            fields["traceback"] = self.traceback
        self.env.events.emit(
            "step_error",
            step_id=self.step.id,
            component=self.step.component,
            attempt=self.state.attempts,
            **fields,
        )


def record_completion(events: EventLog, metrics: MetricLog, step: ManifestStep, state: StepState) -> None:
    """The `step_complete` event and the step's metrics, the same for every backend."""
    writer = step.kind == "writer"
    fields: dict[str, Any] = {
        "rows_read": state.rows_read,
        "rows_written": state.rows_written,
        "rows_out": state.rows_out,
        "bytes": state.bytes,
        "duration_ms": state.duration_ms,
        "attempts": state.attempts,
    }
    if writer:
        fields["target"] = state.target
    events.emit("step_complete", step_id=step.id, component=step.component, **fields)
    metric = metrics.emit
    tags = {"step_id": step.id, "component": step.component}
    metric("rows_read", state.rows_read, "rows", **tags)
    if writer:
        metric("rows_written", state.rows_written, "rows", **tags)
        metric("bytes_written", state.bytes_written, "bytes", **tags)
    else:
        metric("rows_out", state.rows_out, "rows", **tags)
        metric("bytes_out", state.bytes_out, "bytes", **tags)
    metric("duration_ms", state.duration_ms, "ms", **tags)
    metric("attempts", state.attempts, "count", **tags)
    metric("peak_rss_mb", round(state.peak_rss_bytes / 2**20, 1), "MiB", **tags)


def _reader(reader: Any, component: str) -> pa.RecordBatchReader:
    if not isinstance(reader, pa.RecordBatchReader):
        raise DriverError(f"{component} returned {type(reader).__name__}, not a RecordBatchReader")
    return reader


def _call(driver: Any, method: str, component: str) -> Any:
    function = getattr(driver, method, None)
    if not callable(function):
        raise DriverError(
            f"the driver for {component} has no {method}() method",
            hint="the installed driver does not match the component's kind",
        )
    return function


def describe_error(error: BaseException, note: str | None = None) -> dict[str, Any]:
    """The user-facing cause: a DriverError's message and hint, else the exception's type and text."""
    if isinstance(error, DriverError):
        message = str(error) or type(error).__name__
        info: dict[str, Any] = {
            "error_type": type(error).__name__,
            "message": message,
            "transient": bool(error.transient),
        }
        if error.hint:
            info["hint"] = error.hint
    else:
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        info = {
            "error_type": type(error).__name__,
            "message": f"{type(error).__name__}: {text}" if text else type(error).__name__,
            "transient": False,
            "hint": "this is an unexpected error in the driver; rerun with --debug for the traceback",
        }
    if note:
        info["note"] = note
    return info
