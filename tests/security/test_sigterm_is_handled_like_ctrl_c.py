"""SIGTERM ends a run, a sandbox run, a chat or a compile the way Ctrl-C does, and exits 143.

Service managers, CI runners and `timeout` stop processes with SIGTERM; its default action
killed `osiris run` on the spot, leaving status.json `running`, the writer's temp file beside
its target and the session's tmp/ behind. Every test here runs the real command in a
subprocess, waits until it is provably mid-work, sends SIGTERM and checks what is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.runtime.conftest import read_jsonl, validate_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Two rows blown up to 500 million by DuckDB and streamed into a Parquet writer: the run is
# mid-stream (rows flowing, the writer's temp file growing) for as long as the test needs.
SLOW_PIPELINE = """oml_version: "0.1.0"
name: slow
steps:
  - id: src
    component: filesystem.csv_extractor
    config: {path: in.csv}
  - id: blow-up
    component: duckdb.processor
    needs: [src]
    config:
      query: "SELECT s.id, s.name, r.i FROM input_df s, range(500000000) r(i)"
  - id: out
    component: filesystem.parquet_writer
    needs: [blow-up]
    config: {path: out/big.parquet}
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **extra}


def _wait_for(predicate: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {process.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _workspace(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "in.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    (tmp_path / "pipeline.yaml").write_text(SLOW_PIPELINE, encoding="utf-8")
    return tmp_path


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """A failing test must not leave its `osiris run` behind (it would run for minutes)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def _start_run(work: Path, run_id: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "osiris.cli.osiris", "run", "pipeline.yaml", "--run-id", run_id, *extra]
    return _started(subprocess.Popen(argv, cwd=work, env=env or _env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL))


def _started(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    _STARTED.append(process)
    return process


def _writer_temp_files(work: Path) -> list[Path]:
    return list((work / "out").glob(".big.parquet.*")) if (work / "out").is_dir() else []


def _mid_stream(work: Path, run_id: str) -> Callable[[], bool]:
    events = work / ".osiris" / "sessions" / run_id / "events.jsonl"

    def check() -> bool:
        return events.is_file() and '"step_start"' in events.read_text() and bool(_writer_temp_files(work))

    return check


def _assert_cancelled_and_clean(work: Path, run_id: str) -> dict:
    session = work / ".osiris" / "sessions" / run_id
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "cancelled" and status["ok"] is False and status["finished_at"]
    assert {s["status"] for s in status["steps"].values()} <= {"succeeded", "cancelled"}
    assert status["steps"]["out"]["status"] == "cancelled"
    events = read_jsonl(session / "events.jsonl")
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "cancelled"
    assert any(e["event"] == "step_cancelled" and e.get("step_id") == "out" for e in events)
    assert _writer_temp_files(work) == [], "the writer's temp file was left beside its target"
    assert not (work / "out" / "big.parquet").exists()
    assert not (session / "tmp").exists(), "the session's tmp/ (spill, step temp dirs) was left behind"
    validate_session(session)
    return status


def test_sigterm_cancels_a_local_run_and_exits_143(tmp_path: Path) -> None:
    work = _workspace(tmp_path)
    process = _start_run(work, "term")
    _wait_for(_mid_stream(work, "term"), process, "rows to reach the writer")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "cancelled" in stderr and "Traceback" not in stderr
    _assert_cancelled_and_clean(work, "term")


def test_a_second_signal_during_cleanup_leaves_a_whole_status_file(tmp_path: Path) -> None:
    """The second SIGTERM exits at once (143) without cleaning up; status.json is still one
    complete document (every write replaces it atomically), never a half-written one."""
    work = _workspace(tmp_path)
    process = _start_run(work, "twice")
    _wait_for(_mid_stream(work, "twice"), process, "rows to reach the writer")
    process.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    session = work / ".osiris" / "sessions" / "twice"
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    if process.returncode == -signal.SIGTERM:
        # The run had already ended cleanly and Python was shutting down (its handlers gone)
        # when the second signal came: everything the first one promised must be there.
        assert status["status"] == "cancelled" and read_jsonl(session / "events.jsonl")[-1]["event"] == "run_end"
    else:
        assert process.returncode == 143, stderr
        assert status["status"] in ("running", "cancelled")
    validate_session(session)


def test_sigterm_while_compiling_starts_no_step(tmp_path: Path) -> None:
    """A signal that lands while a big pipeline compiles ends the run there: no step starts
    (10,000 steps used to be started only to be cancelled, for minutes), nothing is written
    to compiled/, and the session still ends `cancelled` with exit 143."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from compile import pipeline  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO / "bench"))
    (tmp_path / "pipeline.yaml").write_text(pipeline(15_000), encoding="utf-8")  # seconds to compile
    process = _start_run(tmp_path, "early")
    events = tmp_path / ".osiris" / "sessions" / "early" / "events.jsonl"
    _wait_for(lambda: events.is_file() and '"run_start"' in events.read_text(), process, "the run to start")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr
    session = events.parent
    names = [e["event"] for e in read_jsonl(events)]
    assert names[0] == "run_start" and names[-1] == "run_end", names
    assert not [n for n in names if n.startswith("step_")], "steps were started after the signal"
    assert json.loads((session / "status.json").read_text(encoding="utf-8"))["status"] == "cancelled"
    assert not (session / "compiled").exists() and not (session / "tmp").exists()
    validate_session(session)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_cancels_a_sandbox_run_and_kills_the_sandbox(tmp_path: Path) -> None:
    """`--e2b` through the local transport: a worker process in its own sandbox directory. On
    SIGTERM the host cancels the worker and kills the sandbox; nothing of it survives."""
    work = _workspace(tmp_path / "work")
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    process = _start_run(work, "e2b-term", "--e2b", "--e2b-transport", "local", env=_env(TMPDIR=str(sandboxes)))
    events = work / ".osiris" / "sessions" / "e2b-term" / "events.jsonl"
    _wait_for(lambda: events.is_file() and '"blow-up"' in events.read_text() and '"step_start"' in events.read_text(),
              process, "the sandbox to start the DuckDB step", timeout=240)
    time.sleep(1.0)  # rows flowing inside the sandbox
    workers = _descendants(process.pid)
    assert workers, "the sandbox worker should be a child process"
    assert list(sandboxes.glob("osiris-sandbox-*")), "the local sandbox directory should exist mid-run"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    session = work / ".osiris" / "sessions" / "e2b-term"
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "cancelled"
    assert read_jsonl(session / "events.jsonl")[-1]["status"] == "cancelled"
    assert not (session / "tmp").exists()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "a sandbox process outlived the run"
    assert list(sandboxes.glob("osiris-sandbox-*")) == [], "the sandbox directory was left behind"
    validate_session(session)


def test_sigterm_during_chat_saves_the_session_and_exits_143(tmp_path: Path) -> None:
    from tests.support.openai_server import ReplayServer, Reply

    asked, release = threading.Event(), threading.Event()

    def hold(body: dict) -> Reply:  # noqa: ARG001 - the model "thinks" until the test is done
        asked.set()
        release.wait(60)
        return Reply(status=500)

    with ReplayServer(chooser=hold) as server:
        env = _env(OSIRIS_LLM_BASE_URL=server.url, OSIRIS_LLM_MODEL="m", OSIRIS_LLM_API_KEY="k",
                   XDG_CACHE_HOME=str(tmp_path / ".cache"))
        process = _started(subprocess.Popen(
            [sys.executable, "-m", "osiris.cli.osiris", "chat", "-m", "copy in.csv to parquet", "-y", "--tools", "off",
             "--no-discovery"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL))
        try:
            _wait_for(asked.is_set, process, "the chat to ask the model", timeout=60)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            release.set()
    assert process.returncode == 143, stderr
    assert "the session is saved" in stderr and "Traceback" not in stderr
    (state,) = (tmp_path / ".osiris" / "chat").glob("*/state.json")
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["intent"] == "copy in.csv to parquet" and saved["state"] not in ("INIT", "DONE"), saved


def test_sigterm_stops_omlc_like_ctrl_c(tmp_path: Path) -> None:
    """omlc has nothing to save, but it still exits 143 through its Ctrl-C path (one line, no
    traceback, no half-written --out directory)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from compile import pipeline  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO / "bench"))
    (tmp_path / "big.yaml").write_text(pipeline(15_000), encoding="utf-8")  # several seconds of work
    command = [sys.executable, "-m", "osiris.cli.omlc", "compile", "big.yaml", "--out", "build"]
    process = _started(subprocess.Popen(command,
                                        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
    time.sleep(1.0)
    assert process.poll() is None, "compiling 15,000 steps should take longer than a second"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip() == "omlc: terminated"  # the same words as osiris (cli/guard.py)
    assert not (tmp_path / "build").exists()
