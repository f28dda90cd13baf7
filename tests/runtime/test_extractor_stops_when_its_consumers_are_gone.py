"""An extractor stops reading when every consumer of its output is gone (failed or cancelled)."""

from __future__ import annotations

from tests.runtime.conftest import events_of, validate_session

FAILING_WRITER = """
oml_version: "0.1.0"
name: consumer-fails
steps:
  - id: src
    component: filesystem.csv_extractor
    mode: read
    config: {path: big.csv, block_size: 65536}
  - id: sink
    component: test.sink
    mode: write
    needs: [src]
    config: {fail_after_rows: 0, message: "sink refuses everything"}
"""


def test_extractor_stops_reading_when_its_only_consumer_failed(run_oml, tmp_path):
    total = 200_000
    with open(tmp_path / "big.csv", "w", encoding="utf-8") as out:
        out.write("id,name\n")
        out.writelines(f"{i},name number {i}\n" for i in range(total))
    outcome = run_oml(FAILING_WRITER, channel_capacity=1)
    assert outcome.exit_code == 1
    steps = outcome.status["steps"]
    assert steps["sink"]["status"] == "failed"
    src = steps["src"]
    assert src["status"] == "cancelled"
    assert "sink" in src["skip_reason"]
    # ~80 blocks in the file; it stopped after a few instead of reading (and discarding) them all
    assert 0 < src["rows_read"] < total // 4, src["rows_read"]
    (cancelled,) = events_of(outcome, "step_cancelled")
    assert cancelled["step_id"] == "src" and cancelled["downstream"] == ["sink"]
    assert "stopped reading" in cancelled["reason"]
    assert outcome.status["status"] == "failed" and events_of(outcome)[-1]["event"] == "run_end"
    validate_session(outcome.session.dir)
