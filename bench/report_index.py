"""How long `osiris report --index` takes over many sessions, beside `osiris logs list` over the same
folder (the existing reader of every status.json), interleaved in one run, medians.

    flock /tmp/i12/bench.lock .venv/bin/python bench/report_index.py            # 1,000 sessions, 5 rounds
    .venv/bin/python bench/report_index.py --sessions 5000 --repeat 3

The sessions are one real `osiris run` (two steps) plus copies of its status.json and events.jsonl
with their own ids, start times and figures, every seventh one failed: what a busy project folder
holds. Figures are whole processes (what a user waits for) and, in-process, `render_index` alone.
Target (issue 14, item 5): the index of 1,000 runs renders in under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OSIRIS = str(REPO / ".venv" / "bin" / "osiris")
PIPELINE = """\
oml_version: "0.1.0"
name: index-bench
steps:
  - id: r
    component: filesystem.csv_extractor
    mode: read
    config: {path: d.csv}
  - id: w
    component: filesystem.csv_writer
    mode: write
    needs: [r]
    config: {path: out/d.csv}
"""


def build(project: Path, count: int) -> Path:
    (project / "d.csv").write_text("a\n1\n2\n3\n")
    (project / "p.yaml").write_text(PIPELINE)
    subprocess.run([OSIRIS, "run", "p.yaml", "--run-id", "s00000", "--quiet"], cwd=project, check=True)
    root = project / ".osiris" / "sessions"
    status = json.loads((root / "s00000" / "status.json").read_text())
    events = (root / "s00000" / "events.jsonl").read_text()
    for i in range(1, count):
        folder = root / f"s{i:05d}"
        folder.mkdir()
        status.update(session_id=folder.name, started_at=f"2027-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                      f"{i % 60:02d}.000Z", duration_ms=i, status="failed" if i % 7 == 0 else "succeeded",
                      ok=i % 7 != 0)
        (folder / "status.json").write_text(json.dumps(status))
        (folder / "events.jsonl").write_text(events.replace('"s00000"', f'"{folder.name}"'))
    return root


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from osiris.runtime.report.index import render_index

    with tempfile.TemporaryDirectory(prefix="osiris-index-bench-") as tmp:
        project = Path(tmp)
        root = build(project, args.sessions)
        commands = {
            "osiris report --index": [OSIRIS, "report", "--index"],
            "osiris logs list (baseline)": [OSIRIS, "logs", "list", "--limit", str(args.sessions + 1)],
        }
        figures: dict[str, list[float]] = {name: [] for name in [*commands, "render_index (in-process)"]}
        for _ in range(args.repeat):  # interleaved: load on the shared machine hits both alike
            for name, argv in commands.items():
                figures[name].append(timed(argv, project))
            start = time.perf_counter()
            render_index(root, root / "index.html")
            figures["render_index (in-process)"].append(time.perf_counter() - start)
        print(f"{args.sessions:,} sessions, {args.repeat} rounds, median (min-max) seconds")
        for name, values in figures.items():
            print(f"  {name:30} {statistics.median(values):6.3f}  ({min(values):.3f}-{max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
