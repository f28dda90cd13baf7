"""Step state derives rows read, rows and bytes from what it counts, for every kind of step, and the
E2B mirror carries and applies every field the sandbox worker snapshots."""

from __future__ import annotations

import dataclasses

from osiris.runtime.local.context import PROGRESS_FIELDS, StepState
from tests.runtime.conftest import events_of

ONE_STEP_PAIR = (
    'oml_version: "0.1.0"\nname: pair\nsteps:\n'
    "  - id: gen\n    component: test.generator\n    mode: read\n    config: {rows: 25, batch_rows: 10}\n"
    "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [gen]\n"
)


def test_step_state_derives_rows_read_rows_and_bytes():
    extractor = StepState("g", "c", "extractor", rows_out=5, bytes_out=40, rows_written=0)
    assert (extractor.rows_read, extractor.rows, extractor.bytes) == (5, 5, 40)
    writer = StepState("w", "c", "writer", rows_in=7, rows_written=6, bytes_written=99, bytes_out=1)
    assert (writer.rows_read, writer.rows, writer.bytes) == (7, 6, 99)
    transform = StepState("t", "c", "transform", rows_in=9, rows_out=3, bytes_out=24)
    assert (transform.rows_read, transform.rows, transform.bytes) == (9, 3, 24)
    names = {f.name for f in dataclasses.fields(StepState)}
    assert not names & {"spill_bytes", "extra", "rows_read"}
    assert set(PROGRESS_FIELDS) <= names


def test_a_run_reports_rows_read_for_every_kind(run_oml):
    outcome = run_oml(ONE_STEP_PAIR)
    assert outcome.exit_code == 0, outcome.status
    steps = outcome.status["steps"]
    assert steps["gen"]["rows_read"] == 25 and steps["gen"]["rows_out"] == 25
    assert steps["sink"]["rows_read"] == 25 and steps["sink"]["rows_written"] == 25
    assert steps["sink"]["bytes"] == 200
    assert outcome.status["totals"]["rows_read"] == 25
    assert {e["step_id"]: e["rows_read"] for e in events_of(outcome, "step_complete")} == {"gen": 25, "sink": 25}


def test_the_e2b_mirror_carries_every_state_field_the_worker_snapshots():
    from osiris.runtime.e2b.host.mirror import _STATE_FIELDS
    from osiris.runtime.e2b.sandbox.sinks import snapshot

    state = StepState("g", "c", "extractor", status="running", rows_out=4, started=1.0)
    sent = set(snapshot(state)) - {"id", "component", "kind", "started", "finished", "elapsed_ms"}
    assert set(_STATE_FIELDS) == sent
    assert set(PROGRESS_FIELDS) <= set(_STATE_FIELDS)


def test_the_e2b_mirror_applies_a_worker_state_and_progress():
    from osiris.compiler.manifest import Manifest
    from osiris.compiler.manifest_records import manifest_from_data
    from osiris.runtime.e2b.host.mirror import SessionMirror
    from osiris.runtime.e2b.sandbox.sinks import snapshot

    manifest = manifest_from_data(Manifest.model_validate({
        "pipeline": {"name": "p", "oml_version": "0.1.0"},
        "steps": [{"id": "w", "component": "c.w", "component_version": "1.0.0", "kind": "writer", "mode": "write",
                   "family": None, "connection": None, "cfg_fp": "sha256:" + "0" * 64,
                   "needs": [], "inputs": {}, "outputs": [], "level": 0, "retry": {}}],
        "order": ["w"], "levels": [["w"]], "edges": [], "connections": [],
    }).to_data())
    mirror = SessionMirror(manifest, events=None, metrics=None, on_change=None)
    remote = StepState("w", "c", "writer", status="running", rows_in=3, started=1.0)
    mirror.state(snapshot(remote))
    mirror.progress({"w": {"rows_in": 8, "reported_rows": 9}})
    state = mirror.states["w"]
    assert (state.status, state.rows_read, state.reported_rows) == ("running", 8, 9)
