"""`osiris report --index` over 1,000 session folders (made from one real run's status.json and
events.jsonl): every session once, newest first, its status (killed and damaged ones included), its
figures, and a working relative link to the reports that exist. No timing here: bench/report_index.py."""

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
name: index-demo
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
COUNT = 1000


def make_sessions(project: Path, count: int) -> Path:
    """One real run, then `count - 1` synthetic copies of its status and events with their own ids,
    start times, statuses and row counts; returns the sessions folder."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "d.csv").write_text("a\n1\n2\n3\n")
    (project / "p.yaml").write_text(PIPELINE)
    assert osiris_inproc("run", "p.yaml", "--run-id", "s0000", "--quiet", cwd=project).returncode == 0
    root = project / ".osiris" / "sessions"
    real = root / "s0000"
    status = json.loads((real / "status.json").read_text())
    events = (real / "events.jsonl").read_text()
    for i in range(1, count):
        folder = root / f"s{i:04d}"
        folder.mkdir()
        copy = json.loads(json.dumps(status))
        copy["session_id"] = folder.name
        copy["started_at"] = f"2027-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        copy["duration_ms"] = i
        copy["totals"]["rows_written"] = i
        if i % 7 == 0:
            copy["status"], copy["ok"] = "failed", False
        (folder / "status.json").write_text(json.dumps(copy))
        (folder / "events.jsonl").write_text(events.replace('"s0000"', f'"{folder.name}"'))
    return root


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sessions(tmp_path_factory.mktemp("index") / "project", COUNT)


def _rows(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<tr data-session="([^"]+)" data-status="([^"]+)">(.*?)</tr>', html, re.S)


def test_every_session_is_listed_newest_first_with_its_status_and_figures(sessions: Path) -> None:
    project = sessions.parents[1]
    result = osiris_inproc("report", "--index", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    index = project / json.loads(result.stdout)["index"]
    assert index == sessions / "index.html"
    html = index.read_text()
    rows = _rows(html)
    assert len(rows) == COUNT
    ids = [sid for sid, _, _ in rows]
    assert ids[:3] == ["s0999", "s0998", "s0997"] and ids[-1] == "s0000"  # 2027 > the real run's start
    statuses = {sid: status for sid, status, _ in rows}
    assert statuses["s0007"] == "failed" and statuses["s0008"] == "succeeded"
    assert sum(1 for s in statuses.values() if s == "failed") == len(range(7, COUNT, 7))
    cells = dict(re.findall(r'data-field="([a-z_]+)">([^<]*)<', dict((r[0], r[2]) for r in rows)["s0999"]))
    assert cells["duration_ms"] == "999" and cells["rows_written"] == "999" and cells["rows_read"] == "3"
    assert "<script" not in html and "default-src 'none'" in html and f"{COUNT:,} sessions" in html


def test_links_point_at_the_reports_that_exist(sessions: Path, tmp_path: Path) -> None:
    project = sessions.parents[1]
    assert osiris_inproc("report", "s0005", cwd=project).returncode == 0
    out = tmp_path / "elsewhere" / "runs.html"
    assert osiris_inproc("report", "--index", "--out", str(out), cwd=project).returncode == 0
    rows = {sid: body for sid, _, body in _rows(out.read_text())}
    (href,) = re.findall(r'<a href="([^"]+)">', rows["s0005"])
    assert (out.parent / unescape(href)).resolve() == (sessions / "s0005" / "artifacts" / "report.html").resolve()
    assert "<a href" not in rows["s0006"] and "osiris report s0006" in rows["s0006"]


def test_killed_and_damaged_sessions_are_listed_as_such(sessions: Path, tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    for name in ("s0000", "s0001", "s0002"):
        shutil.copytree(sessions / name, root / name)
    (root / "s0001" / "status.json").write_text('{"status": 3}')
    status = json.loads((root / "s0002" / "status.json").read_text())
    status.update(status="running", ok=False, finished_at=None)
    (root / "s0002" / "status.json").write_text(json.dumps(status))
    lines = [json.loads(line) for line in (root / "s0002" / "events.jsonl").read_text().splitlines()]
    kept = [e for e in lines if e["event"] != "run_end"]
    for event in kept:
        if event["event"] == "run_start":
            event["pid"] = 2**22 + 12345  # above pid_max: no such process
    (root / "s0002" / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in kept))
    result = osiris_inproc("report", "--index", "--session-dir", str(root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    statuses = {sid: status for sid, status, _ in _rows((root / "index.html").read_text())}
    assert statuses == {"s0000": "succeeded", "s0001": "damaged", "s0002": "killed"}


@pytest.mark.parametrize("args", [[], ["s0000", "--index"]])
def test_report_needs_exactly_one_of_an_id_and_index(sessions: Path, args: list[str]) -> None:
    result = osiris_inproc("report", *args, cwd=sessions.parents[1])
    assert result.returncode == 2 and "give a session ID or --index" in result.stderr


def test_an_empty_sessions_folder_gives_an_empty_index(tmp_path: Path) -> None:
    result = osiris_inproc("report", "--index", "--session-dir", "none", "--out", "i.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 sessions" in (tmp_path / "i.html").read_text()
