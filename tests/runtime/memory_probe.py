"""`python -m tests.runtime.memory_probe WORKDIR ROWS`: peak RSS growth of a big streaming run.

Runs a small warm-up pipeline first (so pyarrow, DuckDB and the drivers are loaded and their
one-time allocations made), records the peak RSS, then runs a pipeline over ROWS generated
rows: a streaming Parquet writer, a fan-out to a DuckDB aggregate over a spilled input, and
that aggregate's writer. Prints one JSON object with the figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.local.rss import peak_rss_bytes
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from tests.runtime.conftest import compile_to
from tests.runtime.doubles import OVERRIDES, spec_registry

PIPELINE = """
oml_version: "0.1.0"
name: big
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: ROWS, batch_rows: 65536, text_width: 8}
  - id: write-all
    component: filesystem.parquet_writer
    mode: write
    needs: [gen]
    config: {path: out/all.parquet, row_group_size: 131072, compression: none}
  - id: agg
    component: duckdb.processor
    mode: transform
    needs: [gen]
    config:
      query: "SELECT id % 1000 AS k, count(*) AS n, sum(value) AS s FROM input_df GROUP BY 1 ORDER BY 1"
      memory_limit: 128MB
      threads: 2
  - id: write-agg
    component: filesystem.parquet_writer
    mode: write
    needs: [agg]
    config: {path: out/agg.parquet}
"""


def _run(work: Path, rows: int, name: str) -> dict:
    compiled = compile_to(PIPELINE.replace("ROWS", str(rows)), work / name)
    outcome = run(
        RunRequest(
            manifest_dir=compiled,
            session_root=work / "sessions",
            work_dir=work,
            exec_options=ExecOptions(work_dir=work, step_memory_bytes=128 * 2**20),
        ),
        registry=DriverRegistry(OVERRIDES),
        spec_registry=spec_registry(),
    )
    assert outcome.exit_code == 0, outcome.status
    return outcome.status


def main(work: Path, rows: int) -> None:
    _run(work, 70_000, "warm")
    before = peak_rss_bytes()
    status = _run(work, rows, "big")
    after = peak_rss_bytes()
    print(
        json.dumps(
            {
                "rows": rows,
                "arrow_bytes": status["steps"]["gen"]["bytes"],
                "rows_written": status["totals"]["rows_written"],
                "peak_before_mb": before / 2**20,
                "peak_after_mb": after / 2**20,
                "growth_mb": (after - before) / 2**20,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
