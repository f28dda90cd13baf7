"""The run's timeline as inline SVG: one bar per step, from its first `step_start` to the event
that ended it, and under it, for Ray runs, one thin bar per partition task (from
`partition_start`, or the task's `duration_ms` before `partition_complete`) with retried tasks
drawn hatched up to their `partition_retry`; a step retried after a transient error (`retry`)
gets one hatched sub-bar per failed attempt, from the attempt's start to the `retry` event. Times
are the events' own timestamps, so the picture is what the run recorded, not a re-computation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from osiris.runtime.report.gather import StepData

__all__ = ["Span", "render_timeline", "spans"]

LABEL_W, PLOT_W, ROW_H, SUB_H, PAD = 200, 760, 24, 9, 10
_END = {"step_complete": "succeeded", "step_error": "failed", "step_cancelled": "cancelled"}


@dataclass
class Span:
    """One bar, in ms from the run's start."""

    step_id: str
    start: float
    end: float
    status: str
    partition: Any = None
    attempt: int = 1
    retried: bool = False


def _ms(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000.0
    except ValueError:
        return None


def _earlier(start: float | None, end: float, duration: Any) -> float:
    """A bar's start: its start event, or its end minus the `duration_ms` it reports, whichever is
    earlier. The Ray coordinator writes a task's step and partition events when the task returns,
    so there the events' times are all alike and only the durations tell how long the work took."""
    candidates = [c for c in (start, end - float(duration) if _number(duration) else None) if c is not None]
    return min(candidates) if candidates else end


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def spans(events: list[dict[str, Any]]) -> tuple[list[Span], list[Span], float, float]:
    """(step spans, partition spans, length in ms, ms from the run's first event to the first step).

    Times count from the first step's start: what came before (compiling, a Ray cluster's start-up,
    seconds against milliseconds of work) would squeeze the bars into a corner; its length is
    returned so the page can say it."""
    stamped = [(t, e) for e in events if (t := _ms(e.get("ts"))) is not None]
    if not stamped:
        return [], [], 0.0, 0.0
    first = min(t for t, _ in stamped)
    starts: dict[str, float] = {}
    steps: dict[str, Span] = {}
    part_starts: dict[tuple[Any, Any, Any], float] = {}
    attempt_starts: dict[str, float] = {}
    parts: list[Span] = []
    for at, event in sorted(stamped, key=lambda pair: pair[0]):
        name, step_id = event.get("event"), str(event.get("step_id"))
        if name == "step_start":
            starts.setdefault(step_id, at)
        elif name in _END and (step_id in starts or _number(event.get("duration_ms"))):
            begin = _earlier(starts.get(step_id), at, event.get("duration_ms"))
            steps[step_id] = Span(step_id, begin, at, _END[name])
        elif name == "retry" and step_id in starts:  # the local runtime's step-level retry
            attempt = event.get("attempt", 1)
            parts.append(Span(step_id, attempt_starts.get(step_id, starts[step_id]), at, "failed", None,
                              attempt if isinstance(attempt, int) else 1, True))
            delay = event.get("delay_s")
            attempt_starts[step_id] = at + (float(delay) * 1000.0 if _number(delay) else 0.0)
        elif name == "partition_start":
            part_starts[(step_id, event.get("partition"), event.get("attempt", 1))] = at
        elif name in ("partition_complete", "partition_retry"):
            attempt = event.get("attempt", 1)
            begin = _earlier(part_starts.pop((step_id, event.get("partition"), attempt), None), at,
                             event.get("duration_ms"))
            retried = name == "partition_retry"
            parts.append(Span(step_id, begin, at, "failed" if retried else "succeeded",
                              event.get("partition"), attempt if isinstance(attempt, int) else 1, retried))
    last = max(t for t, _ in stamped)
    for step_id, begin in starts.items():  # still open: killed, or running now
        steps.setdefault(step_id, Span(step_id, begin, last, "running"))
    bars = [*steps.values(), *parts]
    if not bars:
        return [], [], 0.0, 0.0
    t0 = min(b.start for b in bars)
    t_end = max(b.end for b in bars)
    for bar in bars:
        bar.start, bar.end = bar.start - t0, bar.end - t0
    return list(steps.values()), parts, t_end - t0, max(t0 - first, 0.0)


def _tick(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def render_timeline(order: list[StepData], events: list[dict[str, Any]]) -> str:
    step_spans, part_spans, total, before = spans(events)
    if not step_spans and not part_spans:
        return ""
    by_step = {s.step_id: s for s in step_spans}
    parts_by_step: dict[str, list[Span]] = {}
    for part in part_spans:
        parts_by_step.setdefault(part.step_id, []).append(part)
    scale = PLOT_W / total if total > 0 else 0.0
    rows: list[str] = []
    y = PAD + 18
    for step in order:
        span: Span | None = by_step.get(step.id)
        subs = sorted(parts_by_step.get(step.id, []), key=lambda s: (s.partition is not None, str(s.partition),
                                                                       s.attempt))
        if span is None and not subs:
            continue
        rows.append(f'<text x="{PAD}" y="{y + 15}" class="lbl">{escape(step.id[:28])}</text>')
        if span is not None:
            x, w = LABEL_W + span.start * scale, max((span.end - span.start) * scale, 2.0)
            status = escape(step.status if step.status != "pending" else span.status)
            rows.append(
                f'<rect class="bar st-{status}" data-step="{escape(step.id)}" x="{x:.1f}" y="{y + 3}" '
                f'width="{w:.1f}" height="{ROW_H - 6}" rx="3"><title>{escape(step.id)}: '
                f"{span.end - span.start:,.0f} ms ({status})</title></rect>"
            )
        y += ROW_H
        for sub in subs:
            x, w = LABEL_W + sub.start * scale, max((sub.end - sub.start) * scale, 2.0)
            if sub.partition is None:  # a failed attempt of the whole step
                rows.append(
                    f'<rect class="part retried" data-step="{escape(step.id)}" data-attempt="{sub.attempt}" '
                    f'x="{x:.1f}" y="{y}" width="{w:.1f}" height="{SUB_H - 2}"><title>{escape(step.id)} attempt '
                    f"{sub.attempt}: {sub.end - sub.start:,.0f} ms, transient error, retried</title></rect>"
                )
                y += SUB_H
                continue
            what = "lost worker, re-run" if sub.retried else "done"
            rows.append(
                f'<rect class="part{" retried" if sub.retried else ""}" data-step="{escape(step.id)}" '
                f'data-partition="{escape(str(sub.partition))}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                f'height="{SUB_H - 2}"><title>{escape(step.id)} partition {escape(str(sub.partition))} '
                f"attempt {sub.attempt}: {sub.end - sub.start:,.0f} ms, {what}</title></rect>"
            )
            y += SUB_H
        y += 4
    height = y + PAD
    width = LABEL_W + PLOT_W + PAD * 2
    axis = [f'<line x1="{LABEL_W}" y1="{PAD + 14}" x2="{LABEL_W + PLOT_W}" y2="{PAD + 14}" class="axis"/>']
    for i in range(5):
        ms = total * i / 4
        x = LABEL_W + ms * scale
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        axis.append(f'<text x="{x:.1f}" y="{PAD + 8}" text-anchor="{anchor}" class="tick">{_tick(ms)}</text>')
        axis.append(f'<line x1="{x:.1f}" y1="{PAD + 14}" x2="{x:.1f}" y2="{height - PAD}" class="grid"/>')
    caption = (f'<p class="muted">0 is the first step\'s start, {_tick(before)} after the run began '
               "(compiling, and for Ray the cluster's start-up)</p>") if before >= 1 else ""
    return (
        caption
        + f'<svg class="timeline" data-total-ms="{total:.3f}" role="img" aria-label="timeline of the steps" '
        f'viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">'
        + "".join(axis) + "".join(rows) + "</svg>"
    )
