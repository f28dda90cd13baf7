"""The report of a real `osiris run --backend ray` run: one sub-bar per partition task under its step,
and bars as long as the durations the run recorded (the coordinator writes a task's events when it
returns, so their timestamps alone would draw every bar as a sliver). Retried partitions, which a
real run only shows when a worker dies, are covered with recorded events in
test_report_shows_the_graph_timeline_and_failing_oml_line.py."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.runtime.conftest import osiris

pytestmark = pytest.mark.slow

PIPELINE = """\
oml_version: "0.1.0"
name: ray-report
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: orders.csv}
  - id: big
    component: duckdb.processor
    mode: transform
    inputs:
      o: ${orders.df}
    config:
      query: SELECT id, amount * 2 AS twice FROM o WHERE amount > 10
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [big]
    config: {path: out/big.parquet}
"""


def test_partitions_are_sub_bars_sized_by_their_recorded_durations(tmp_path: Path) -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    (tmp_path / "orders.csv").write_text("id,amount\n" + "".join(f"{i},{i % 50}\n" for i in range(5000)))
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    run = osiris("run", "pipeline.yaml", "--backend", "ray", "--partitions", "2", "--run-id", "r", "--quiet",
                 cwd=tmp_path, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    session = tmp_path / ".osiris" / "sessions" / "r"
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    done = [e for e in events if e["event"] == "partition_complete"]
    assert done, "a Ray run records its partitions"
    report = osiris("report", "r", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (session / "artifacts" / "report.html").read_text()

    drawn = re.findall(r'<rect class="part" data-step="([^"]+)" data-partition="(\d+)" x="[\d.]+" y="\d+" '
                       r'width="([\d.]+)"', html)
    assert sorted((s, p) for s, p, _ in drawn) == sorted((e["step_id"], str(e["partition"])) for e in done)
    scale = _scale(html)
    for step_id, partition, width in drawn:
        (event,) = [e for e in done if e["step_id"] == step_id and str(e["partition"]) == partition]
        assert float(width) >= min(event["duration_ms"] * scale, 2.0) - 0.2, (step_id, partition)
    bars = dict(re.findall(r'<rect class="bar st-succeeded" data-step="([^"]+)" x="[\d.]+" y="\d+" width="([\d.]+)"',
                           html))
    assert set(bars) == {"orders", "big", "write"}
    for event in (e for e in events if e["event"] == "step_complete"):
        assert float(bars[event["step_id"]]) >= min(event["duration_ms"] * scale, 2.0) - 0.2, event["step_id"]


def _scale(html: str) -> float:
    """Pixels per ms of the timeline."""
    from osiris.runtime.report.timeline import PLOT_W

    (total,) = re.findall(r'<svg class="timeline" data-total-ms="([\d.]+)"', html)
    return PLOT_W / float(total)
