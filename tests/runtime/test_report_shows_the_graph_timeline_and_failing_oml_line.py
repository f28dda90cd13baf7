"""`osiris report` of a real run with one failing step: the DAG, the timeline, per-step numbers equal to
metrics.jsonl, the failing step's OML file:line:column, the masked config, and nothing that reaches
outside the file. The same page in a real browser: test_report_renders_in_headless_chromium.py."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path

import pytest

from tests.runtime.conftest import osiris_inproc

PIPELINE = """\
oml_version: "0.1.0"
name: report-demo
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: orders.csv}
  - id: broken
    component: duckdb.processor
    mode: transform
    inputs:
      o: ${orders.df}
    config:
      query: SELECT no_such_column FROM o
  - id: write-broken
    component: filesystem.csv_writer
    mode: write
    needs: [broken]
    config: {path: out/broken.csv}
  - id: write-orders
    component: filesystem.csv_writer
    mode: write
    needs: [orders]
    config: {path: out/orders.csv}
"""
STEPS = ["orders", "broken", "write-broken", "write-orders"]
BROKEN_AT = f"pipeline.yaml:{PIPELINE.splitlines().index('  - id: broken') + 1}:5"  # its `- id:` line


def run_failing_pipeline(project: Path) -> Path:
    """Run PIPELINE for real in `project`; returns the session folder."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "orders.csv").write_text("id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(1, 1001)))
    (project / "pipeline.yaml").write_text(PIPELINE)
    result = osiris_inproc("run", "pipeline.yaml", "--run-id", "demo", "--quiet", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    return project / ".osiris" / "sessions" / "demo"


def metric_values(session: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for line in (session / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("step_id"):
            found.setdefault(record["step_id"], {})[record["metric"]] = record["value"]
    return found


def shown_number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_failing_pipeline(tmp_path_factory.mktemp("report") / "project")


def _report(session: Path) -> str:
    result = osiris_inproc("report", "demo", cwd=session.parents[2])
    assert result.returncode == 0, result.stderr
    return (session / "artifacts" / "report.html").read_text()


def test_every_step_is_in_the_graph_and_the_table_with_its_status(session: Path) -> None:
    html = _report(session)
    nodes = dict(re.findall(r'<g class="node [^"]*" data-step="([^"]+)" data-status="([^"]+)"', html))
    rows = dict(re.findall(r'<tr data-step="([^"]+)" data-status="([^"]+)"', html))
    expected = {"orders": "succeeded", "broken": "failed", "write-broken": "skipped", "write-orders": "succeeded"}
    assert nodes == rows == expected
    edges = set(re.findall(r'class="edge" data-from="([^"]+)" data-to="([^"]+)"', html))
    assert edges == {("orders", "broken"), ("broken", "write-broken"), ("orders", "write-orders")}


def test_the_failed_step_shows_its_error_and_oml_line(session: Path) -> None:
    html = _report(session)
    (box,) = re.findall(r'<div class="err" data-step="broken">(.*?)</div>', html, re.S)
    assert "no_such_column" in box and f'<code class="source">{BROKEN_AT}</code>' in box
    status = json.loads((session / "status.json").read_text())
    assert status["steps"]["broken"]["error"]["source"] == BROKEN_AT  # what the runtime recorded


def test_the_numbers_shown_are_the_metrics(session: Path) -> None:
    html = _report(session)
    metrics = metric_values(session)
    assert set(metrics) == {"orders", "write-orders"}  # a failed step records no metrics
    for step_id, values in metrics.items():
        (row,) = re.findall(rf'<tr data-step="{step_id}" .*?</tr>', html, re.S)
        cells = dict(re.findall(r'data-metric="([a-z_]+)">([^<]*)<', row))
        for name, value in values.items():
            assert shown_number(cells[name]) == value, (step_id, name)
        assert shown_number(cells["rows_per_s"]) == round(values["rows_read"] * 1000 / values["duration_ms"])


def test_the_timeline_has_a_bar_per_step_that_ran(session: Path) -> None:
    html = _report(session)
    bars = re.findall(r'<rect class="bar st-([a-z-]+)" data-step="([^"]+)"', html)
    assert sorted(bars) == sorted([("succeeded", "orders"), ("failed", "broken"), ("succeeded", "write-orders")])


def test_the_page_is_self_contained(session: Path) -> None:
    html = _report(session)
    assert "default-src 'none'" in html
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(http" not in html
    assert "http://" not in html and "https://" not in html


def test_the_config_is_shown_masked(session: Path, tmp_path: Path) -> None:
    copy = tmp_path / ".osiris" / "sessions" / "demo"
    shutil.copytree(session, copy)
    cfg = copy / "compiled" / "cfg.json"
    data = json.loads(cfg.read_text())
    data["orders"].update(password="hunter2-secret", dsn="postgresql://u:pw-secret@h/db")
    cfg.write_text(json.dumps(data))
    html = unescape(_report(copy))
    assert '"path": "orders.csv"' in html and '"password": "***"' in html
    assert "hunter2-secret" not in html and "pw-secret" not in html


def test_partitions_and_retries_of_a_ray_run_are_sub_bars(session: Path, tmp_path: Path) -> None:
    copy = tmp_path / ".osiris" / "sessions" / "demo"
    shutil.copytree(session, copy)
    worker = {"node": "n1", "pid": 7}
    extra = [
        {"event": "partition_start", "step_id": "orders", "partition": 0, "worker": worker, "attempt": 1},
        {"event": "partition_start", "step_id": "orders", "partition": 1, "worker": worker, "attempt": 1},
        {"event": "partition_retry", "step_id": "orders", "partition": 1, "worker": worker, "attempt": 1,
         "reason": "worker lost"},
        {"event": "partition_complete", "step_id": "orders", "partition": 0, "rows": 500, "worker": worker,
         "attempt": 1, "duration_ms": 5},
        {"event": "partition_complete", "step_id": "orders", "partition": 1, "rows": 500, "worker": worker,
         "attempt": 2, "duration_ms": 4},
    ]
    events = [json.loads(line) for line in (copy / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "step_start" and e["step_id"] == "orders")
    at = events.index(start) + 1
    for offset, event in enumerate(extra):
        events.insert(at + offset, {**event, "ts": start["ts"], "session_id": "demo", "component": "x"})
    (copy / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    html = _report(copy)
    parts = re.findall(r'<rect class="part( retried)?" data-step="orders" data-partition="(\d)"', html)
    assert sorted(parts) == [("", "0"), ("", "1"), (" retried", "1")]
    assert "<h2>Partitions</h2>" in html


def test_a_retried_step_shows_each_failed_attempt(session: Path, tmp_path: Path) -> None:
    """The local runtime's step-level `retry` events: one hatched sub-bar per failed attempt."""
    copy = tmp_path / ".osiris" / "sessions" / "demo"
    shutil.copytree(session, copy)
    events = [json.loads(line) for line in (copy / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "step_start" and e["step_id"] == "orders")
    at = events.index(start) + 1
    for attempt in (1, 2):
        events.insert(at, {"event": "retry", "step_id": "orders", "component": "x", "attempt": attempt,
                           "next_attempt": attempt + 1, "delay_s": 0.0, "max_attempts": 3, "error": "reset",
                           "ts": start["ts"], "session_id": "demo"})
        at += 1
    (copy / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    html = _report(copy)
    assert re.findall(r'<rect class="part retried" data-step="orders" data-attempt="(\d)"', html) == ["1", "2"]
    assert re.findall(r'<rect class="bar st-\w+" data-step="orders"', html)  # the step's own bar stays
