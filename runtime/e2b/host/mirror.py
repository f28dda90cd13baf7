"""Apply the worker's messages to the host session, and record sandbox failures like step failures.

Events and metrics are re-emitted through the session's own `EventLog`/`MetricLog`, so they
land in events.jsonl/metrics.jsonl with the host's sequence numbers, timestamps, session id
and masking, in the order the worker produced them. Step states mirror the worker's (with
durations carried over, since the two clocks differ) and drive status.json and the live
display through the same `on_change` callback the local executor calls.

When the sandbox itself fails, the step that was running gets a `step_error` with the same
fields the executor writes, steps downstream of it are skipped, and other unfinished steps
are cancelled: the vocabulary of a local run, never a new kind of event.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from osiris.compiler.manifest_records import Manifest, ManifestStep
from osiris.runtime.local.context import PROGRESS_FIELDS, StepState

__all__ = ["RemoteRunner", "SessionMirror"]

_STATE_FIELDS = tuple(
    f.name for f in dataclasses.fields(StepState) if f.name not in ("id", "component", "kind", "started", "finished")
)
"""What a worker's state snapshot (`sinks.snapshot`, also from dataclasses.fields) carries over; the
identity is the host's own and the monotonic clock readings travel as `elapsed_ms`."""
_FINAL = ("succeeded", "failed", "skipped", "cancelled")
_EVENT_STATUS = {
    "step_start": "running",
    "step_complete": "succeeded",
    "step_error": "failed",
    "step_skipped": "skipped",
    "step_cancelled": "cancelled",
}
"""The status each step event moves its step to, on the worker as here (runtime/local/step.py)."""
_ERROR_FIELDS = ("error_type", "message", "transient", "hint", "source", "note")
_HOST_EVENTS = frozenset(
    {
        "run_start",
        "run_end",
        "compile_complete",
        "compile_error",
        "manifest_loaded",
        "manifest_error",
        "connections_error",
    }
)
"""Run-level events runtime/run.py writes on the host; a worker that sends one is forging it."""
worker_log = logging.getLogger("osiris.e2b.worker")


@dataclass
class RemoteRunner:
    """What `runtime.run` and the CLI read from a step runner: its step, output schema and traceback."""

    step: ManifestStep
    schema: pa.Schema | None = None
    traceback: str | None = None


class SessionMirror:
    def __init__(
        self, manifest: Manifest, events: Any, metrics: Any, on_change: Callable[[StepState], None] | None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self.manifest, self.events, self.metrics, self.on_change = manifest, events, metrics, on_change
        self.sources = sources or {}
        """Step id -> `pipeline.yaml:LINE:COLUMN`, cited by a step the host fails (as the executor does)."""
        self.states = {s.id: StepState(s.id, s.component, s.kind) for s in (manifest.step(i) for i in manifest.order)}
        self.runners = {step_id: RemoteRunner(manifest.step(step_id)) for step_id in manifest.order}
        self._lock = threading.Lock()
        self._host_failed: set[str] = set()
        """Steps the host failed (e.g. a lost download); later worker states cannot revive them."""
        self.downloaded: frozenset[str] | None = None
        """Writers whose output the host downloads (the executor sets it from its staging); None: all."""

    # -- worker messages ---------------------------------------------------------------------
    def event(self, message: dict[str, Any]) -> None:
        """A validated event message (runtime.e2b.host.inbound); checked here against the manifest."""
        step_id = message.get("step_id")
        fields = message.get("fields") or {}
        if message["event"] in _HOST_EVENTS:
            raise ValueError(f"{message['event']} is written by the host, not the sandbox")
        if "event" in fields or "step_id" in fields:
            raise ValueError("event fields may not be named event or step_id")
        if step_id is not None:
            component = self.states[self._known(step_id, "event")].component
            if fields.get("component", component) != component:
                raise ValueError(f"event for step {step_id!r} names another component")
        self.events.emit(str(message["event"]), step_id=step_id, **fields)
        if step_id is not None and message["event"] in _EVENT_STATUS:
            self._follow(str(step_id), str(message["event"]), fields)

    def _follow(self, step_id: str, event: str, fields: dict[str, Any]) -> None:
        """Move the step to the status its start or end event implies.

        The worker sends a step's state snapshot right after the event, so a sandbox lost in
        between would leave the host one transition behind: a started step still pending (and a
        failure blamed on another step), a completed one still running (and then cancelled).
        The snapshot that follows fills in the rest.

        A writer whose output the host downloads is not done at its `step_complete`: the output
        is still to be announced, checked and downloaded, and a refusal there must fail it. It
        stays running until its state says otherwise. A database writer has committed by then.
        """
        state = self.states[step_id]
        if step_id in self._host_failed or (event == "step_complete" and self._downloads(state)):
            return
        with self._lock:
            state.status = _EVENT_STATUS[event]
            if event == "step_error":
                state.error = {name: fields[name] for name in _ERROR_FIELDS if name in fields}

    def _downloads(self, state: StepState) -> bool:
        return state.kind == "writer" and (self.downloaded is None or state.id in self.downloaded)

    def metric(self, message: dict[str, Any]) -> None:
        self._known(message.get("step_id"), "metric")
        self.metrics.emit(
            str(message["metric"]),
            message["value"],
            message.get("unit"),
            step_id=message.get("step_id"),
            **(message.get("tags") or {}),
        )

    def state(self, snap: dict[str, Any], *, only_if_changed: bool = False) -> None:
        state = self.states[self._known(snap.get("id", ""), "state")]
        if only_if_changed and all(getattr(state, name) == snap[name] for name in _STATE_FIELDS if name in snap):
            return
        with self._lock:
            keep = ("status", "error") if state.id in self._host_failed else ()
            for name in _STATE_FIELDS:
                if name in snap and name not in keep:
                    setattr(state, name, snap[name])
            now = time.monotonic()
            elapsed = float(snap.get("elapsed_ms", 0)) / 1000
            state.started = now - elapsed if snap.get("started") else None
            state.finished = now if snap.get("finished") else None
        self._changed(state)

    def _known(self, step_id: object, what: str) -> str:
        if step_id not in self.states:
            raise ValueError(f"{what} for unknown step {str(step_id)[:80]!r}")
        return str(step_id)

    def progress(self, progress: dict[str, Any]) -> None:
        for step_id, values in (progress or {}).items():
            state = self.states.get(step_id)
            if state is not None and state.status == "running":
                for name in PROGRESS_FIELDS:
                    if name in values:
                        setattr(state, name, int(values[name]))

    def log(self, message: dict[str, Any]) -> None:
        level = int(message.get("level", logging.WARNING))
        worker_log.log(level, "[sandbox %s] %s", message.get("logger"), message.get("message"))

    def result(self, message: dict[str, Any]) -> str:
        """Final states, schemas and tracebacks; returns the worker's run status."""
        for step_id, entry in (message.get("steps") or {}).items():
            if step_id not in self.states:
                continue
            # Usually identical to the last live update: then status.json is not rewritten again.
            self.state({**entry.get("state", {}), "id": step_id}, only_if_changed=True)
            runner = self.runners[step_id]
            runner.traceback = entry.get("traceback")
            if entry.get("schema"):
                try:
                    runner.schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(entry["schema"])))
                except (ValueError, pa.ArrowException):
                    runner.schema = None
        return str(message.get("status"))

    # -- sandbox failures --------------------------------------------------------------------
    def unfinished(self) -> list[StepState]:
        return [s for s in self.states.values() if s.status not in _FINAL]

    def fail_step(self, step_id: str, message: str, hint: str | None) -> None:
        """Mark one step failed by the sandbox, with a step_error like the executor's."""
        state = self.states[step_id]
        self._host_failed.add(step_id)
        state.status = "failed"
        state.finished = time.monotonic()
        error: dict[str, Any] = {"error_type": "SandboxError", "message": message, "transient": False}
        if hint:
            error["hint"] = hint
        if step_id in self.sources:
            error["source"] = self.sources[step_id]
        state.error = error
        self.events.emit("step_error", step_id=step_id, component=state.component, attempt=state.attempts, **error)
        self._changed(state)

    def abandon(self, blamed: list[str], cancelled: bool) -> None:
        """Close every other unfinished step: skipped downstream of a failure, else cancelled."""
        downstream = self._downstream(blamed)
        for state in self.unfinished():
            started = state.started is not None
            state.finished = time.monotonic()
            origin = next((b for b in blamed if state.id in downstream.get(b, set())), None)
            if origin is not None and not cancelled:
                state.status = "skipped"
                state.skip_reason = f"upstream step {origin} did not succeed"
                self.events.emit(
                    "step_skipped",
                    step_id=state.id,
                    component=state.component,
                    reason=state.skip_reason,
                    upstream=origin,
                    rolled_back=started,
                )
            else:
                state.status = "cancelled"
                self.events.emit(
                    "step_cancelled",
                    step_id=state.id,
                    component=state.component,
                    started=started,
                    rows_read=state.rows_read,
                )
            self._changed(state)

    def blame(self) -> list[str]:
        """The steps a sandbox failure belongs to: those running, else the next one in plan order."""
        running = [s.id for s in self.states.values() if s.status == "running"]
        if running:
            return running
        pending = [step_id for step_id in self.manifest.order if self.states[step_id].status not in _FINAL]
        return pending[:1]

    def _downstream(self, roots: list[str]) -> dict[str, set[str]]:
        children: dict[str, set[str]] = {s.id: set() for s in self.manifest.steps}
        for step in self.manifest.steps:
            for need in step.needs:
                children.setdefault(need, set()).add(step.id)
        found: dict[str, set[str]] = {}
        for root in roots:
            seen: set[str] = set()
            todo = list(children.get(root, ()))
            while todo:
                node = todo.pop()
                if node not in seen:
                    seen.add(node)
                    todo.extend(children.get(node, ()))
            found[root] = seen
        return found

    def _changed(self, state: StepState) -> None:
        if self.on_change is not None:
            self.on_change(state)
