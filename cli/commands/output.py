"""Plain-text rendering of a run's status document (run summary, `osiris logs show`).

Input is a status.json document, which is already masked; callers mask the text again
before printing. No colour and no rich markup: data values may contain `[` and `]`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

__all__ = ["format_bytes", "format_duration", "format_table", "render_summary", "step_rows"]


def format_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def format_duration(ms: int | float) -> str:
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def step_rows(step: dict[str, Any]) -> int:
    """The row count that describes a step: written for writers, produced for the others."""
    return int(step.get("rows_written", 0) if step.get("kind") == "writer" else step.get("rows_out", 0))


def format_table(rows: Sequence[Sequence[str]], right: Collection[int] = (), indent: str = "") -> list[str]:
    """Rows as aligned text lines: columns padded to their widest cell, `right` ones right-aligned."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def render_summary(status: dict[str, Any], session_dir: str, *, quiet: bool = False) -> str:
    """What `osiris run` prints at the end: steps, outputs, failures, where the session is."""
    ok = bool(status.get("ok"))
    steps: dict[str, dict[str, Any]] = status.get("steps") or {}
    lines: list[str] = []
    if not quiet:
        name = status.get("pipeline") or status.get("source") or "run"
        lines.append(f"{name}: {status.get('status')} in {format_duration(status.get('duration_ms') or 0)}")
        if steps:
            rows = [["STEP", "COMPONENT", "STATUS", "ROWS", "TIME"]]
            for step_id, step in steps.items():
                rows.append(
                    [
                        step_id,
                        str(step.get("component", "")),
                        str(step.get("status", "")),
                        f"{step_rows(step):,}",
                        format_duration(step.get("duration_ms") or 0),
                    ]
                )
            lines.append("")
            lines.extend(format_table(rows, right={3, 4}, indent="  "))
        outputs = status.get("outputs") or []
        if outputs:
            lines.append("")
            lines.append("outputs:")
            rows = [
                [
                    str(o.get("target") or o.get("step_id")),
                    f"{int(o.get('rows', 0)):,} rows",
                    format_bytes(o.get("bytes", 0)),
                    f"({o.get('step_id')})",
                ]
                for o in outputs
            ]
            lines.extend(format_table(rows, right={1, 2}, indent="  "))
        totals = status.get("totals") or {}
        if ok:
            lines.append("")
            lines.append(
                f"{totals.get('rows_read', 0):,} rows read, {totals.get('rows_written', 0):,} rows written"
            )
    lines.extend(_problems(status, steps))
    if not quiet or not ok:
        sid = status.get("session_id", "")
        lines.append("")
        lines.append(f"session: {session_dir}")
        lines.append(f"  details: osiris logs show {sid}   report: osiris report {sid}")
    return "\n".join(lines) + "\n" if lines else ""


def _problems(status: dict[str, Any], steps: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    error = status.get("error")
    if error and not any(s.get("status") == "failed" for s in steps.values()):
        lines.append("")
        lines.append(f"error: {error.get('message')}")
    for step_id, step in steps.items():
        if step.get("status") == "failed" and step.get("error"):
            err = step["error"]
            lines.append("")
            lines.append(f"error: step {step_id} ({step.get('component')}) failed: {err.get('message')}")
            lines.extend([f"  at: {err['source']}"] if err.get("source") else [])  # the step's OML file:line:col
            if err.get("hint"):
                lines.append(f"  hint: {err['hint']}")
            if err.get("note"):
                lines.append(f"  note: {err['note']}")
    # Skipped steps, and steps cancelled because everything downstream gave up, say why.
    stopped = [(sid, s) for sid, s in steps.items()
               if s.get("status") == "skipped" or (s.get("status") == "cancelled" and s.get("skip_reason"))]
    for step_id, step in stopped:
        lines.append(f"{step['status']}: step {step_id} ({step.get('component')}): {step.get('skip_reason')}")
    unfinished = ", ".join(status.get("unfinished_steps") or [])
    if status.get("state") == "killed":
        lines.append("")
        lines.append(
            "killed: the process ended without finishing the run"
            + (f" (steps not finished: {unfinished})" if unfinished else "")
            + "; writers commit all or nothing, so targets were left as they were"
        )
    elif status.get("state") == "running":
        lines.append("")
        steps = f" (steps running: {unfinished})" if unfinished else ""
        lines.append(f"running: the run is still in progress{steps}")
    if status.get("status") == "cancelled":
        lines.append("")
        lines.append("cancelled: the run was stopped (Ctrl-C or SIGTERM); writers rolled back their partial output")
    return lines
