"""Bad input to `osiris` never ends in a traceback: a clear message, a non-zero exit, nothing half-written.

Every test runs the real CLI as a subprocess (`python -m osiris.cli.osiris`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO, osiris

PIPELINE = """
oml_version: "0.1.0"
name: review
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


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.fixture(scope="module")
def finished_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real, successful session to copy and damage."""
    work = tmp_path_factory.mktemp("review")
    (work / "d.csv").write_text("a\n1\n2\n")
    (work / "p.yaml").write_text(PIPELINE)
    result = osiris("run", "p.yaml", "--run-id", "base", "--quiet", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / ".osiris" / "sessions" / "base"


@pytest.fixture
def project(tmp_path: Path, finished_session: Path) -> Path:
    """A working directory holding a copy of the finished session as `ok`."""
    shutil.copytree(finished_session, tmp_path / ".osiris" / "sessions" / "ok")
    return tmp_path


def _session(project: Path, name: str = "ok") -> Path:
    return project / ".osiris" / "sessions" / name


def test_report_out_an_existing_directory_is_a_usage_error(project: Path) -> None:
    (project / "d").mkdir()
    result = osiris("report", "ok", "--out", "d", cwd=project)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert "osiris report: error:" in result.stderr and "d is a directory" in result.stderr
    assert list((project / "d").iterdir()) == []


def test_report_into_an_unwritable_place_names_the_path(project: Path) -> None:
    (project / "file").write_text("x")
    result = osiris("report", "ok", "--out", "file/sub/report.html", cwd=project)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert "osiris report: error: cannot write the report to file/sub/report.html" in result.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_init_into_an_unwritable_path() -> None:
    result = osiris("init", "/proc/osiris-newproj", cwd=REPO)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert "osiris init: error:" in result.stderr and "/proc/osiris-newproj" in result.stderr
    assert result.stdout == ""


def test_init_where_a_file_is_in_the_way_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "initx").mkdir()
    (tmp_path / "initx" / "data").write_text("a file, not a directory")
    result = osiris("init", "initx", cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert "initx/data exists and is not a directory" in result.stderr
    assert sorted(p.name for p in (tmp_path / "initx").iterdir()) == ["data"]  # nothing half-written

    (tmp_path / "plain").write_text("x")
    nested = osiris("init", "plain/proj", cwd=tmp_path)
    _clean(nested)
    assert nested.returncode == 2 and "plain exists and is not a directory" in nested.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]\n", "is not a JSON object"),
        ("{not json\n", "is not valid JSON"),
        ('{"steps": [1], "totals": 5, "error": "x", "outputs": {"a": 1}}\n', "does not have the shape"),
        ("STATUS", "does not have the shape"),  # a real document with one field of the wrong type
    ],
)
def test_a_damaged_status_json_is_reported_not_rendered(project: Path, content: str, reason: str) -> None:
    status_file = _session(project) / "status.json"
    if content == "STATUS":
        document = json.loads(status_file.read_text())
        document["steps"]["w"]["rows_written"] = "many"
        content = json.dumps(document)
    status_file.write_text(content)

    shown = osiris("logs", "show", "ok", cwd=project)
    _clean(shown)
    assert shown.returncode == 1, shown.stderr
    assert "ok: status.json is damaged; its events say the run ended: succeeded" in shown.stdout
    assert "osiris logs show: error: session ok:" in shown.stderr and reason in shown.stderr

    as_json = osiris("logs", "show", "ok", "--json", cwd=project)
    _clean(as_json)
    body = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and body["state"] == "damaged" and reason in body["damaged"]

    listed = osiris("logs", "list", cwd=project)
    _clean(listed)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[:2] == ["ok", "damaged"]

    report = osiris("report", "ok", cwd=project)
    _clean(report)
    assert report.returncode == 1, report.stderr
    assert "osiris report: error: cannot report session ok:" in report.stderr and reason in report.stderr
    assert not (_session(project) / "artifacts" / "report.html").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["logs", "gc", "--keep", "-5"],
        ["logs", "gc", "--keep", "-5", "--dry-run"],
        ["logs", "gc", "--older-than", "-1"],
        ["logs", "gc", "--older-than", "nan"],
    ],
)
def test_logs_gc_rejects_negative_figures(project: Path, args: list[str]) -> None:
    result = osiris(*args, cwd=project)
    _clean(result)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "osiris logs gc: error: argument" in result.stderr and result.stdout == ""
    assert _session(project).is_dir()


def test_logs_gc_keep_zero_still_means_remove_all(project: Path) -> None:
    result = osiris("logs", "gc", "--keep", "0", "--dry-run", cwd=project)
    assert result.returncode == 0 and "would remove ok" in result.stdout


@pytest.mark.parametrize("size", ["0", "0MB", "0.1B"])
def test_step_memory_zero_is_rejected(tmp_path: Path, size: str) -> None:
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "p.yaml").write_text(PIPELINE)
    result = osiris("run", "p.yaml", "--step-memory", size, cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2, result.stderr
    assert "argument --step-memory: expected a size above zero" in result.stderr
    assert not (tmp_path / ".osiris").exists() and not (tmp_path / "out").exists()


def test_session_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "afile").write_text("x")
    result = osiris("run", "p.yaml", "--session-dir", "afile", cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2
    assert "osiris run: error: --session-dir afile is not a directory" in result.stderr
    assert "--run-id" not in result.stderr and not (tmp_path / "out").exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _interrupt(session: Path, pid: int) -> None:
    """Make a finished session look like its run stopped while step `w` was writing."""
    status = json.loads((session / "status.json").read_text())
    status.update(status="running", ok=False, finished_at=None)
    status["steps"]["w"]["status"] = "running"
    (session / "status.json").write_text(json.dumps(status))
    events = []
    for line in (session / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "run_end" or (event["event"] == "step_complete" and event.get("step_id") == "w"):
            continue
        if event["event"] == "run_start":
            event["pid"] = pid
        events.append(json.dumps(event))
    (session / "events.jsonl").write_text("\n".join(events) + "\n")


def test_a_killed_run_is_shown_as_killed_with_its_unfinished_steps(project: Path) -> None:
    _interrupt(_session(project), _dead_pid())
    shown = osiris("logs", "show", "ok", cwd=project)
    _clean(shown)
    assert shown.returncode == 0, shown.stderr
    assert "review: killed in" in shown.stdout
    (w_row,) = [line for line in shown.stdout.splitlines() if line.split()[:1] == ["w"]]
    assert "not finished" in w_row
    assert "killed: the process ended without finishing the run (steps not finished: w)" in shown.stdout
    listed = osiris("logs", "list", "--json", cwd=project)
    assert json.loads(listed.stdout)[0]["status"] == "killed"
    body = json.loads(osiris("logs", "show", "ok", "--json", cwd=project).stdout)
    assert body["state"] == "killed" and body["unfinished_steps"] == ["w"]
    assert body["status"]["status"] == "running"  # the document itself is shown as written
    report = osiris("report", "ok", cwd=project)
    assert report.returncode == 0, report.stderr
    html = (_session(project) / "artifacts" / "report.html").read_text()
    assert '<span class="badge killed">killed</span>' in html and "steps not finished: w" in html


def test_a_run_whose_process_lives_is_still_running(project: Path) -> None:
    _interrupt(_session(project), os.getpid())  # this test's process: alive
    shown = osiris("logs", "show", "ok", cwd=project)
    assert shown.returncode == 0 and "review: running in" in shown.stdout
    assert "running: the run is still in progress (steps running: w)" in shown.stdout


def test_stdout_closed_early_is_quiet(project: Path) -> None:
    for index in range(30):
        shutil.copytree(_session(project), _session(project, f"copy-{index:02d}"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-m", "osiris.cli.osiris", "logs", "list", "--limit", "100"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # like `osiris logs list | head -0`
    with child.stderr:
        stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141, stderr
    assert stderr == ""


_BOOM = """
import sys
import osiris.cli.commands.logs_cmd as logs_cmd
from osiris.cli.osiris import main

def boom(*args):
    raise RuntimeError("bug near " + "hunter2-secret")

logs_cmd._list = boom
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_in_any_command_is_one_masked_line(tmp_path: Path, debug: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "REVIEW_DB_PASSWORD": "hunter2-secret"}
    args = ["--debug", "logs", "list"] if debug else ["logs", "list"]
    result = subprocess.run(
        [sys.executable, "-c", _BOOM, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert "osiris: internal error[OML090]: RuntimeError: bug near ***" in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert ("Traceback" in result.stderr) is debug
