"""A sandbox lost between a step's `step_start` and its `running` state still blames that step.

The worker emits a step's start event before its state snapshot, so a sandbox that goes silent
(or dies) right after the event leaves the host with a start and no running state. With
streaming inputs a processor starts while its upstream reader is still running: blaming only
the steps in state `running` then failed the reader and left the processor without an error;
and a reader whose `step_complete` had arrived but not its `succeeded` state was blamed, or
cancelled after it had completed. The host now moves a step on its start and end events too.
"""

from __future__ import annotations

from typing import Any

import pytest

from osiris.compiler.manifest import Manifest
from osiris.compiler.manifest_records import manifest_from_data
from osiris.runtime.e2b.host.mirror import SessionMirror
from osiris.runtime.e2b.sandbox.sinks import snapshot
from osiris.runtime.local.context import StepState


class _Events:
    def __init__(self) -> None:
        self.emitted: list[dict[str, Any]] = []

    def emit(self, event: str, **fields: Any) -> None:
        self.emitted.append({"event": event, **fields})


def _step(step_id: str, kind: str, needs: list[str]) -> dict[str, Any]:
    return {"id": step_id, "component": f"c.{kind}", "component_version": "1.0.0", "kind": kind,
            "mode": {"extractor": "extract", "transform": "transform", "writer": "write"}[kind],
            "family": None, "connection": None, "cfg_fp": "sha256:" + "0" * 64,
            "needs": needs, "inputs": {}, "outputs": [], "level": len(needs), "retry": {}}


def _mirror() -> tuple[SessionMirror, _Events]:
    manifest = manifest_from_data(Manifest.model_validate({
        "pipeline": {"name": "p", "oml_version": "0.1.0"},
        "steps": [_step("read", "extractor", []), _step("join", "transform", ["read"]),
                  _step("write", "writer", ["join"])],
        "order": ["read", "join", "write"], "levels": [["read"], ["join"], ["write"]],
        "edges": [], "connections": [],
    }).to_data())
    events = _Events()
    return SessionMirror(manifest, events=events, metrics=None, on_change=None), events


def _start(mirror: SessionMirror, step_id: str, kind: str, *, state_sent: bool) -> None:
    mirror.event({"type": "event", "event": "step_start", "step_id": step_id,
                  "fields": {"component": f"c.{kind}"}})
    if state_sent:
        mirror.state(snapshot(StepState(step_id, f"c.{kind}", kind, status="running", started=1.0)))


def test_a_step_whose_start_arrived_without_its_running_state_is_blamed():
    mirror, _ = _mirror()
    _start(mirror, "read", "extractor", state_sent=True)
    _start(mirror, "join", "transform", state_sent=False)  # the sandbox went silent here
    assert mirror.blame() == ["read", "join"]


def test_the_only_started_step_is_blamed_even_before_its_state():
    mirror, _ = _mirror()
    _start(mirror, "read", "extractor", state_sent=True)
    mirror.state(snapshot(StepState("read", "c.extractor", "extractor", status="succeeded", started=1.0,
                                    finished=2.0)))
    mirror.event({"type": "event", "event": "step_complete", "step_id": "read", "fields": {}})
    _start(mirror, "join", "transform", state_sent=False)
    assert mirror.blame() == ["join"]


@pytest.mark.parametrize("running_state_sent", [True, False])
def test_a_completed_step_is_neither_blamed_nor_cancelled_before_its_final_state(running_state_sent):
    """The reader's step_complete arrived, its `succeeded` state did not: the processor is to blame."""
    mirror, events = _mirror()
    _start(mirror, "read", "extractor", state_sent=running_state_sent)
    mirror.event({"type": "event", "event": "step_complete", "step_id": "read", "fields": {}})
    _start(mirror, "join", "transform", state_sent=False)
    blamed = mirror.blame()
    assert blamed == ["join"]
    mirror.fail_step("join", "lost the connection to the sandbox", None)
    mirror.abandon(blamed, cancelled=False)
    assert {s.id: s.status for s in mirror.states.values()} == {
        "read": "succeeded", "join": "failed", "write": "skipped"}
    assert [e["event"] for e in events.emitted if e.get("step_id") == "read"] == ["step_start", "step_complete"]


def test_a_step_error_that_arrived_alone_keeps_its_own_error():
    """The worker's step_error is the step's failure; the host neither blames nor re-fails it."""
    mirror, events = _mirror()
    _start(mirror, "read", "extractor", state_sent=True)
    error = {"error_type": "DriverError", "message": "table gone", "transient": False, "hint": "create it"}
    mirror.event({"type": "event", "event": "step_error", "step_id": "read", "fields": error})
    assert mirror.states["read"].status == "failed" and mirror.states["read"].error == error
    assert mirror.blame() == ["join"]


def test_a_step_the_host_failed_is_not_revived_by_a_later_event():
    mirror, _ = _mirror()
    _start(mirror, "read", "extractor", state_sent=True)
    mirror.fail_step("read", "the download of its output failed", None)
    mirror.event({"type": "event", "event": "step_complete", "step_id": "read", "fields": {}})
    assert mirror.states["read"].status == "failed"


def test_with_nothing_started_the_next_step_in_plan_order_is_blamed():
    mirror, _ = _mirror()
    assert mirror.blame() == ["read"]


def test_a_writer_stays_running_after_its_complete_event_until_its_output_is_accepted():
    """A forged or repeated output report after the writer's step_complete must still fail it
    (tests/security/test_sandbox_outputs_declared.py): the event alone does not finish a writer."""
    mirror, _ = _mirror()
    mirror.event({"type": "event", "event": "step_start", "step_id": "write", "fields": {"component": "c.writer"}})
    mirror.event({"type": "event", "event": "step_complete", "step_id": "write", "fields": {}})
    assert mirror.states["write"].status == "running"
    assert mirror.blame() == ["write"]


def test_a_database_writer_is_done_at_its_complete_event():
    """Nothing of it is downloaded: its step_complete means it committed, and a sandbox lost
    right after must not fail it (a rerun of an append would repeat its rows)."""
    mirror, _ = _mirror()
    mirror.downloaded = frozenset()
    mirror.event({"type": "event", "event": "step_start", "step_id": "write", "fields": {"component": "c.writer"}})
    mirror.event({"type": "event", "event": "step_complete", "step_id": "write", "fields": {}})
    assert mirror.states["write"].status == "succeeded"
