"""status.json: the outcome of a run, rewritten on every step transition and at the end.

`ok` is true exactly when the run succeeded; `totals.rows_written` is the sum of what the
writers reported (the original Osiris wrote `ok: false` and 0 rows for successful runs).
Schema: runtime/schemas/status.schema.json.

Readers (`osiris logs`, `osiris report`) go through `session_view`: it tells a run still in
progress from one that was killed (status.json says "running" until the run ends, so a
SIGKILLed run would otherwise look alive forever) and flags a status.json of the wrong shape
as damaged instead of rendering it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.runtime.tempfiles import pid_alive

if TYPE_CHECKING:  # readers of status.json must not import the executor (and pyarrow)
    from osiris.runtime.local.context import StepState

__all__ = [
    "NOT_FINISHED",
    "STATUS_VERSION",
    "build_status",
    "session_view",
    "status_problem",
    "step_summary",
    "unfinished_state",
]

STATUS_VERSION = 1


def step_summary(state: StepState) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "component": state.component,
        "kind": state.kind,
        "status": state.status,
        "attempts": state.attempts,
        "rows_read": state.rows_read,
        "rows_out": state.rows_out,
        "rows_written": state.rows_written,
        "bytes": state.bytes,
        "duration_ms": state.duration_ms,
        "peak_rss_mb": round(state.peak_rss_bytes / 2**20, 1),
    }
    if state.target:
        summary["target"] = state.target
    if state.error:
        summary["error"] = dict(state.error)
    if state.skip_reason:
        summary["skip_reason"] = state.skip_reason
    return summary


def build_status(
    *,
    session_id: str,
    pipeline: str | None,
    status: str,
    started_at: str,
    finished_at: str | None,
    duration_ms: int,
    states: Mapping[str, StepState] | None,
    manifest_fp: str | None = None,
    error: dict[str, Any] | None = None,
    source: str | None = None,
    peak_rss_mb: float | None = None,
) -> dict[str, Any]:
    """The status.json document for the run as it stands."""
    states = states or {}
    steps = {step_id: step_summary(state) for step_id, state in states.items()}
    counts = {
        name: sum(1 for s in states.values() if s.status == name)
        for name in ("succeeded", "failed", "skipped", "cancelled")
    }
    writers = [s for s in states.values() if s.kind == "writer" and s.status == "succeeded"]
    extractors = [s for s in states.values() if s.kind == "extractor"]
    totals = {
        "steps": len(states),
        "steps_succeeded": counts["succeeded"],
        "steps_failed": counts["failed"],
        "steps_skipped": counts["skipped"],
        "steps_cancelled": counts["cancelled"],
        "rows_read": sum(s.rows_read for s in extractors),
        "rows_written": sum(s.rows_written for s in writers),
        "bytes_written": sum(s.bytes_written for s in writers),
    }
    document: dict[str, Any] = {
        "status_version": STATUS_VERSION,
        "session_id": session_id,
        "pipeline": pipeline,
        "source": source,
        "ok": status == "succeeded",
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_ms": duration_ms,
        "manifest_fp": manifest_fp,
        "steps": steps,
        "totals": totals,
        "outputs": [
            {
                "step_id": s.id,
                "component": s.component,
                "target": s.target,
                "rows": s.rows_written,
                "bytes": s.bytes_written,
            }
            for s in writers
        ],
    }
    if peak_rss_mb is not None:
        document["peak_rss_mb"] = peak_rss_mb
    if error:
        document["error"] = error
    return document


NOT_FINISHED = "not finished"
_OPEN_STEP = ("pending", "waiting", "running")
_END_EVENTS = ("step_complete", "step_error", "step_skipped", "step_cancelled")


def unfinished_state(events: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """For a run that has not recorded its end: ("running" | "killed", steps started but not ended).

    status.json says "running" until the run ends; a run killed with SIGKILL (or a crashed
    machine) never rewrites it, so its events say how far it got and the pid in its
    `run_start` event whether it is still alive.
    """
    started = [e for e in events if e.get("event") == "run_start"]
    ended = {e.get("step_id") for e in events if e.get("event") in _END_EVENTS}
    open_steps = sorted(
        {str(e["step_id"]) for e in events if e.get("event") == "step_start" and "step_id" in e} - ended
    )
    if any(e.get("event") == "run_end" for e in events):
        return "killed", open_steps  # ended without its final status.json: not running any more
    pid = started[-1].get("pid") if started else None
    return ("running" if pid_alive(pid) else "killed"), open_steps


@lru_cache(maxsize=1)
def _validator() -> Any:
    try:
        from jsonschema import Draft202012Validator

        schema = json.loads((Path(__file__).parent / "schemas" / "status.schema.json").read_text("utf-8"))
        return Draft202012Validator(schema)
    except (ImportError, OSError, ValueError):  # no schema to check against: trust the shape
        return None


def status_problem(session_dir: Path, status: Mapping[str, Any]) -> str | None:
    """Why the session's status.json cannot be trusted (None when it is sound or absent).

    `status` is what `runtime.session.read_status` returned, which is {} for a file that is
    missing, unreadable, not JSON or not a JSON object.
    """
    path = Path(session_dir) / "status.json"
    if not status:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            return f"cannot read {path}: {error.strerror or error}"
        except ValueError:
            return f"{path} is not valid JSON"
        if not isinstance(data, dict):
            return f"{path} is not a JSON object"
        status = data
    validator = _validator()
    if validator is None:
        return None
    error = next(iter(sorted(validator.iter_errors(status), key=lambda e: [str(p) for p in e.absolute_path])), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        detail = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    else:  # the schema leaves the outputs' figures open; the renderers format them as numbers
        bad = [
            (f"outputs/{i}/{key}", output[key])
            for i, output in enumerate(status.get("outputs") or [])
            for key in ("rows", "bytes")
            if not isinstance(output[key], int) or isinstance(output[key], bool)
        ]
        if not bad:
            return None
        where, detail = bad[0][0], f"{bad[0][1]!r} is not of type 'integer'"
    return f"{path} does not have the shape of a status.json ({where}: {detail})"


def session_view(
    session_dir: Path,
    status: Mapping[str, Any],
    events: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The status document as users should see it.

    Adds `state`: the status word to show ("succeeded", "failed", "cancelled", "running",
    "killed", "damaged" or "unknown"), `damaged` (the reason, for a status.json of the wrong
    shape; the document is then not used) and `unfinished_steps`. For a killed run the
    document's `status` becomes "killed" and steps that were still open "not finished".
    `events` (the session's events, or a function reading them) is read only for a run that
    has not recorded its end.
    """
    problem = status_problem(session_dir, status)
    if problem is not None:
        return {
            "session_id": Path(session_dir).name,
            "status": "damaged",
            "state": "damaged",
            "damaged": problem,
            "unfinished_steps": [],
        }
    view: dict[str, Any] = json.loads(json.dumps(dict(status)))  # a deep copy of plain JSON
    view.setdefault("session_id", Path(session_dir).name)
    word = view.get("status")
    if status and not (word == "running" or view.get("finished_at") is None):
        view["state"] = word
        view["unfinished_steps"] = []
        return view
    if callable(events):
        events = events()
    if not status and not events:
        view.update(status="unknown", state="unknown", unfinished_steps=[])
        return view
    state, open_steps = unfinished_state(events)
    steps = view.get("steps") or {}
    unfinished = sorted(set(open_steps) | {k for k, v in steps.items() if v.get("status") == "running"})
    if state == "killed":
        for step in steps.values():
            if step.get("status") in _OPEN_STEP:
                step["status"] = NOT_FINISHED
    view.update(status=state, state=state, unfinished_steps=unfinished)
    return view
