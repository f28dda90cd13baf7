"""Review fixes: the compiled manifest used in memory, reserved event/metric names, derived step
state, one pid check, one diagnostic shape, ipc_input as a SpillTable, exact session lookup."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.runtime.driver import StepContext
from osiris.runtime.events import HEADER_FIELDS, RESERVED_FIELDS, EventLog, MetricLog
from osiris.runtime.local.context import PROGRESS_FIELDS, LocalStepContext, StepState
from osiris.runtime.secrets import SecretMasker
from tests.runtime.conftest import events_of, osiris_inproc, read_jsonl, validate_session
from tests.runtime.doubles import Generator

ONE_STEP_PAIR = (
    'oml_version: "0.1.0"\nname: pair\nsteps:\n'
    "  - id: gen\n    component: test.generator\n    mode: read\n    config: {rows: 25, batch_rows: 10}\n"
    "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [gen]\n"
)


# -- 1. the compiled manifest is not read back -----------------------------------------------------
def test_pipeline_mode_uses_the_compile_result_not_the_written_files(run_oml, monkeypatch):
    import osiris.runtime.run as run_module
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("load_manifest must not run in pipeline mode")

    monkeypatch.setattr(run_module, "load_manifest", refuse)
    outcome = run_oml(ONE_STEP_PAIR)
    assert outcome.exit_code == 0, outcome.status
    compiled = outcome.session.compiled_dir
    artifacts = outcome.compile_result.artifacts
    on_disk = {str(p.relative_to(compiled)): p.read_bytes() for p in compiled.rglob("*") if p.is_file()}
    assert on_disk == artifacts  # the session still holds exactly the compiled files
    (complete,) = events_of(outcome, "compile_complete")
    assert complete["manifest_fp"] == json.loads(artifacts["meta.json"])["fingerprints"]["manifest_fp"]
    assert outcome.status["manifest_fp"] == complete["manifest_fp"]


def test_the_in_memory_manifest_equals_the_verified_files(tmp_path):
    from osiris.compiler.api import CompileOptions, compile_text, write_output
    from osiris.compiler.manifest import load_manifest
    from tests.runtime.doubles import spec_registry

    result = compile_text(ONE_STEP_PAIR, "p.yaml", CompileOptions(search_connections=False),
                          registry=spec_registry(), connections=None)
    write_output(result, tmp_path / "out")
    compiled = result.compiled
    loaded = load_manifest(tmp_path / "out", registry=spec_registry())
    assert (compiled.manifest, compiled.cfgs, compiled.meta) == loaded


# -- 2. reserved event and metric names ------------------------------------------------------------
def _context(tmp_path: Path) -> tuple[LocalStepContext, EventLog, MetricLog]:
    import threading

    masker = SecretMasker()
    events = EventLog(tmp_path / "events.jsonl", "s1", masker)
    metrics = MetricLog(tmp_path / "metrics.jsonl", "s1", masker)
    ctx = LocalStepContext(
        step_id="gen", component="test.generator", mode="extract", config={}, connection=None,
        work_dir=tmp_path, temp_dir=tmp_path, batch_rows=10, memory_limit_bytes=1, state=StepState(
            "gen", "test.generator", "extractor"), events=events, metrics=metrics, cancel=threading.Event(),
    )
    return ctx, events, metrics


def test_reserved_names_cover_the_envelope_and_the_metric_record():
    assert set(HEADER_FIELDS) <= RESERVED_FIELDS
    assert {"component", "step_id", "ts", "seq", "session_id", "event", "metric", "value", "unit"} == RESERVED_FIELDS


def test_a_driver_event_with_reserved_field_names_is_renamed_not_a_type_error(tmp_path):
    ctx, events, metrics = _context(tmp_path)
    ctx.event("custom", component="y", step_id="z", event="e", ts="t", seq=9, session_id="x", name="n", rows=3)
    events.close()
    metrics.close()
    (record,) = read_jsonl(tmp_path / "events.jsonl")
    assert record["event"] == "custom" and record["step_id"] == "gen" and record["component"] == "test.generator"
    assert record["seq"] == 1 and record["session_id"] == "s1" and record["ts"] != "t"
    assert {k: record[k] for k in record if k.startswith("driver_")} == {
        "driver_component": "y", "driver_step_id": "z", "driver_event": "e", "driver_ts": "t",
        "driver_seq": 9, "driver_session_id": "x",
    }
    assert record["rows"] == 3 and record["name"] == "n"


def test_a_driver_metric_with_reserved_tag_names_is_renamed_not_a_type_error(tmp_path):
    ctx, events, metrics = _context(tmp_path)
    ctx.metric("m", 1, None, metric="y", value=3, name="n", step_id="q", component="c", table="t")
    ctx.metric("m2", 2, unit="rows")
    events.close()
    metrics.close()
    record, second = read_jsonl(tmp_path / "metrics.jsonl")
    assert (record["metric"], record["value"], record["unit"], record["step_id"]) == ("m", 1, None, "gen")
    assert record["tags"] == {
        "component": "test.generator", "driver_metric": "y", "driver_value": 3, "name": "n",
        "driver_step_id": "q", "driver_component": "c", "table": "t",
    }
    assert (second["metric"], second["unit"], second["tags"]) == ("m2", "rows", {"component": "test.generator"})


def test_the_event_log_never_lets_a_field_overwrite_the_envelope(tmp_path):
    events = EventLog(tmp_path / "events.jsonl", "s1", SecretMasker())
    written = events.emit("x", step_id="a", seq=7, ts="t", component="c")
    events.close()
    assert written["seq"] == 1 and written["ts"] != "t" and written["step_id"] == "a"
    assert written["driver_seq"] == 7 and written["driver_ts"] == "t" and written["component"] == "c"
    assert not hasattr(events, "listen") and not hasattr(events, "_listeners")


class _NoisyGenerator(Generator):
    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        ctx.event("noise", component="mine", step_id="other", value=1)
        ctx.metric("noise.count", 2, "count", metric="n", value=3, step_id="other")
        return super().extract(ctx)


def test_reserved_names_from_a_driver_in_a_real_run(run_oml):
    outcome = run_oml(ONE_STEP_PAIR, overrides={"test.generator": _NoisyGenerator})
    assert outcome.exit_code == 0, outcome.status
    (noise,) = events_of(outcome, "noise")
    assert noise["step_id"] == "gen" and noise["component"] == "test.generator"
    assert noise["driver_component"] == "mine" and noise["driver_step_id"] == "other" and noise["driver_value"] == 1
    metric = next(m for m in read_jsonl(outcome.session.dir / "metrics.jsonl") if m["metric"] == "noise.count")
    assert metric["step_id"] == "gen" and metric["value"] == 2
    assert metric["tags"]["driver_value"] == 3 and metric["tags"]["driver_metric"] == "n"
    validate_session(outcome.session.dir)


def test_logs_show_hides_only_the_envelope(tmp_path):
    from osiris.cli.commands.logs_cmd import _event_line

    line = _event_line({"seq": 1, "ts": "T", "session_id": "s", "event": "e", "step_id": "a",
                        "component": "c", "driver_seq": 2})
    assert line == 'T e [a] component="c" driver_seq=2'


# -- 3. derived step state -------------------------------------------------------------------------
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
    from osiris.runtime.e2b.mirror import _STATE_FIELDS
    from osiris.runtime.e2b.sinks import snapshot

    state = StepState("g", "c", "extractor", status="running", rows_out=4, started=1.0)
    sent = set(snapshot(state)) - {"id", "component", "kind", "started", "finished", "elapsed_ms"}
    assert set(_STATE_FIELDS) == sent
    assert set(PROGRESS_FIELDS) <= set(_STATE_FIELDS)


def test_the_e2b_mirror_applies_a_worker_state_and_progress():
    from osiris.compiler.manifest import Manifest
    from osiris.runtime.e2b.mirror import SessionMirror
    from osiris.runtime.e2b.sinks import snapshot

    manifest = Manifest.model_validate({
        "pipeline": {"name": "p", "oml_version": "0.1.0"},
        "steps": [{"id": "w", "component": "c.w", "component_version": "1.0.0", "kind": "writer", "mode": "write",
                   "family": None, "connection": None, "cfg": "cfg/w.json", "cfg_fp": "sha256:" + "0" * 64,
                   "needs": [], "inputs": {}, "outputs": [], "level": 0, "retry": {}}],
        "order": ["w"], "levels": [["w"]], "edges": [], "connections": [],
    })
    mirror = SessionMirror(manifest, events=None, metrics=None, on_change=None)
    remote = StepState("w", "c", "writer", status="running", rows_in=3, started=1.0)
    mirror.state(snapshot(remote))
    mirror.progress({"w": {"rows_in": 8, "reported_rows": 9}})
    state = mirror.states["w"]
    assert (state.status, state.rows_read, state.reported_rows) == ("running", 8, 9)


# -- 4. duplicates ---------------------------------------------------------------------------------
def test_pid_alive_is_the_one_liveness_check():
    from osiris.runtime import status, tempfiles

    assert tempfiles.pid_alive(os.getpid())
    assert not any(tempfiles.pid_alive(p) for p in (None, 0, -1, True, "12", 2**22 + 12345))
    assert not hasattr(status, "_alive") and not hasattr(tempfiles, "_alive")
    assert status.unfinished_state([{"event": "run_start", "pid": os.getpid()}]) == ("running", [])
    assert status.unfinished_state([{"event": "run_start", "pid": 0}]) == ("killed", [])


def test_compile_error_events_and_json_output_use_the_compilers_diagnostic_shape(tmp_path):
    from osiris.compiler.render import diagnostic_json

    (tmp_path / "p.yaml").write_text('oml_version: "0.1.0"\nname: bad\nsteps: 3\n', encoding="utf-8")
    result = osiris_inproc("run", "p.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    session = Path(tmp_path / body["session_dir"])
    (event,) = [e for e in read_jsonl(session / "events.jsonl") if e["event"] == "compile_error"]
    assert event["diagnostics"] == body["diagnostics"]
    from osiris.compiler.api import compile_path

    expected = compile_path(tmp_path / "p.yaml", label="p.yaml").diagnostics
    assert body["diagnostics"] == [diagnostic_json(d) for d in expected]
    validate_session(session)


def test_ipc_input_is_a_spill_table(tmp_path):
    from osiris.runtime.local.spill import SpillTable
    from osiris.runtime.testing import ipc_input

    table = pa.table({"a": [1, 2, 3]})
    spilled = ipc_input("up", table, tmp_path)
    assert isinstance(spilled, SpillTable)
    assert (spilled.name, spilled.num_rows, spilled.schema) == ("up", 3, table.schema)
    assert spilled.reader().read_all().equals(table)
    assert spilled.reader().read_all().equals(table)  # re-scannable
    assert spilled.dataset().to_table().equals(table)


def test_find_session_reads_only_the_status_of_the_session_asked_for(tmp_path, monkeypatch):
    import osiris.runtime.session as session_module
    for name in ("20250101T000000Z-aaaaaa", "20250102T000000Z-bbbbbb", "20250102T000000Z-bbbbbc"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "events.jsonl").write_text("")
        (tmp_path / name / "status.json").write_text(json.dumps({"started_at": name}))
    read = []
    original = session_module.read_status

    def counting(path):  # noqa: ANN001, ANN202
        read.append(path.name)
        return original(path)

    monkeypatch.setattr(session_module, "read_status", counting)
    info = session_module.find_session(tmp_path, "20250102T000000Z-bbbbbb")
    assert info.id == "20250102T000000Z-bbbbbb" and info.status == {"started_at": info.id}
    assert read == [info.id]
    read.clear()
    assert session_module.find_session(tmp_path, "20250101").id == "20250101T000000Z-aaaaaa"
    assert read == ["20250101T000000Z-aaaaaa"]
    with pytest.raises(session_module.SessionError, match="2 sessions start with it"):
        session_module.find_session(tmp_path, "20250102")
    with pytest.raises(session_module.SessionError):
        session_module.find_session(tmp_path, "../x")
    assert session_module.find_session(tmp_path, "last").id == "20250102T000000Z-bbbbbc"


def test_connections_errors_are_rendered_by_the_compilers_renderer(tmp_path):
    (tmp_path / "conns.yaml").write_text("connections: [1, 2]\n", encoding="utf-8")
    result = osiris_inproc("connections", "list", "--connections", "conns.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("osiris connections: error:")
    assert any(line.startswith("conns.yaml:") and ": error[OML" in line for line in lines[1:]), lines
    assert lines[-1].endswith("in 1 file")  # render_text's summary line


def test_ctrl_c_while_step_threads_start_cancels_and_still_starts_every_thread():
    import threading

    from osiris.runtime.local.executor import _start

    class Interrupted(threading.Thread):
        calls = 0

        def start(self) -> None:
            Interrupted.calls += 1
            if Interrupted.calls == 1:
                raise KeyboardInterrupt  # before the thread existed
            super().start()

    ran: list[int] = []
    threads = [Interrupted(target=ran.append, args=(1,)), threading.Thread(target=ran.append, args=(2,))]
    cancel = threading.Event()
    _start(threads, cancel)
    for thread in threads:
        thread.join(5)
    assert cancel.is_set() and sorted(ran) == [1, 2]
    Interrupted.calls = 0
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C (the run is cancelled already) stops waiting
        _start([Interrupted(target=ran.append, args=(3,))], cancel)
