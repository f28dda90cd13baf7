"""Run one pipeline on the local backend and on Ray, each in its own copy of a workspace."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.ray.executor import RayExecutor, RayOptions
from osiris.runtime.run import RunOutcome, RunRequest, run

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    outcome: RunOutcome
    work: Path

    @property
    def events(self) -> list[dict[str, Any]]:
        path = self.outcome.session.dir / "events.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    @property
    def status(self) -> dict[str, Any]:
        return self.outcome.status


def workspace(base: Path, files: dict[str, str | bytes] | None = None, copy: list[str] | None = None) -> Path:
    """A project directory: `files` written, `copy` (repository paths) copied to the same place."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    for rel in copy or []:
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / rel).is_dir():
            shutil.copytree(REPO / rel, target)
        else:
            shutil.copy2(REPO / rel, target)
    for rel, content in (files or {}).items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return base


def run_in(work: Path, pipeline: str, *, backend: str, partitions: int | None = 3,
           connections: str | None = None, params: dict[str, str] | None = None, env: dict[str, str] | None = None,
           **ray_options: Any) -> Ran:
    executor = RayExecutor(RayOptions(partitions=partitions, **ray_options)) if backend == "ray" else None
    request = RunRequest(pipeline=Path(pipeline), session_root=work / ".osiris" / "sessions", work_dir=work,
                         connections=connections, params=params or {}, env=env,
                         exec_options=ExecOptions(work_dir=work))
    return Ran(run(request, executor=executor), work)


def outputs(work: Path, under: str = "out") -> dict[str, bytes]:
    root = work / under
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def step_rows(ran: Ran) -> dict[str, tuple[str, int, int]]:
    """Step id -> (status, rows read, rows written) from status.json."""
    steps = ran.status["steps"]
    items = steps.items() if isinstance(steps, dict) else ((s["id"], s) for s in steps)
    return {sid: (s["status"], s.get("rows_read", 0), s.get("rows_written", 0)) for sid, s in items}
