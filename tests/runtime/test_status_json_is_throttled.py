"""status.json is written at most every so often while a run lasts, catches up with a long-running
step, and the final status is complete."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from osiris.runtime.session import Session
from tests.runtime.conftest import validate_session
from tests.runtime.doubles import OVERRIDES, spec_registry


def _many_steps(count: int) -> str:
    steps = "".join(
        f"  - id: g{i}\n    component: test.generator\n    mode: read\n    config: {{rows: 10}}\n"
        f"  - id: s{i}\n    component: test.sink\n    mode: write\n    needs: [g{i}]\n"
        for i in range(count)
    )
    return 'oml_version: "0.1.0"\nname: many\nsteps:\n' + steps


def test_status_writes_are_throttled_and_the_final_status_is_complete(run_oml, monkeypatch):
    writes = []
    original = Session.write_status

    def counting(self, status):  # noqa: ANN001, ANN202
        writes.append(status["status"])
        return original(self, status)

    monkeypatch.setattr(Session, "write_status", counting)
    outcome = run_oml(_many_steps(40))
    assert outcome.exit_code == 0, outcome.status
    # 80 steps change state ~240 times; the writes are a handful (start, a few intervals, end).
    assert len(writes) < 40, len(writes)
    assert writes[-1] == "succeeded" and writes.count("succeeded") == 1
    on_disk = json.loads((outcome.session.dir / "status.json").read_text())
    assert on_disk == outcome.status
    assert on_disk["totals"]["steps_succeeded"] == 80 and on_disk["status"] == "succeeded"
    validate_session(outcome.session.dir)


def test_status_json_catches_up_with_a_long_running_step(tmp_path):
    """A change inside the throttle interval is written a moment later, not at the next change."""
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: slow\nsteps:\n'
        "  - id: slow\n    component: test.generator\n    mode: read\n"
        "    config: {rows: 4, batch_rows: 1, sleep_ms: 600}\n"
        "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [slow]\n",
        encoding="utf-8",
    )
    sessions: list[Session] = []
    seen: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            if sessions:
                try:
                    status = json.loads((sessions[0].dir / "status.json").read_text())
                except (OSError, ValueError):
                    status = {}
                if status.get("status") == "running":
                    seen.add(status.get("steps", {}).get("slow", {}).get("status", ""))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    request = RunRequest(
        pipeline=Path("p.yaml"), session_root=tmp_path / "s", work_dir=tmp_path,
        exec_options=ExecOptions(work_dir=tmp_path),
    )
    try:
        outcome = run(request, registry=DriverRegistry(OVERRIDES), spec_registry=spec_registry(),
                      on_session=sessions.append)
    finally:
        done.set()
        poller.join()
    assert outcome.exit_code == 0
    assert "running" in seen, seen
