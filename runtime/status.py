"""status.json: the outcome of a run, rewritten on every step transition and at the end.

`ok` is true exactly when the run succeeded; `totals.rows_written` is the sum of what the
writers reported (the original Osiris wrote `ok: false` and 0 rows for successful runs).
Schema: runtime/schemas/status.schema.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.local.context import StepState

__all__ = ["STATUS_VERSION", "build_status", "step_summary"]

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
        "bytes": state.bytes_written if state.kind == "writer" else state.bytes_out,
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
