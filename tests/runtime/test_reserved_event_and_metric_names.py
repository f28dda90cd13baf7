"""Reserved event and metric names: a driver's event fields or metric tags that would overwrite the
envelope (seq, ts, step_id, ...) are renamed, not a TypeError; `logs show` hides only the envelope."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from osiris.runtime.driver import StepContext
from osiris.runtime.events import HEADER_FIELDS, RESERVED_FIELDS, EventLog, MetricLog
from osiris.runtime.local.context import LocalStepContext, StepState
from osiris.runtime.secrets import SecretMasker
from tests.runtime.conftest import events_of, read_jsonl, validate_session
from tests.runtime.doubles import Generator

ONE_STEP_PAIR = (
    'oml_version: "0.1.0"\nname: pair\nsteps:\n'
    "  - id: gen\n    component: test.generator\n    mode: read\n    config: {rows: 25, batch_rows: 10}\n"
    "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [gen]\n"
)


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
