"""The steps' graph as inline SVG, laid out from the manifest's `needs`.

Left to right by level (the longest chain of `needs` above a step), so data flows the way the
timeline reads; inside a level, steps sit near the mean height of their parents (one barycentre
pass), which keeps the usual fan-in/fan-out pipelines free of crossings without a layout library.
"""

from __future__ import annotations

from html import escape

from osiris.runtime.report.gather import StepData

__all__ = ["render_dag"]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 46, 70, 18, 12


def layout(steps: list[StepData]) -> dict[str, tuple[int, int]]:
    """Step id -> (column, row)."""
    columns: dict[int, list[StepData]] = {}
    for step in steps:
        columns.setdefault(step.level, []).append(step)
    placed: dict[str, tuple[int, int]] = {}
    for level in sorted(columns):
        members = columns[level]
        keys = {}
        for index, step in enumerate(members):
            rows = [placed[n][1] for n in step.needs if n in placed]
            keys[step.id] = (sum(rows) / len(rows) if rows else -1.0, index)
        for row, step in enumerate(sorted(members, key=lambda s: keys[s.id])):
            placed[step.id] = (level, row)
    return placed


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def render_dag(steps: list[StepData]) -> str:
    """`<svg>` with one `g.node` per step (`data-step`, `data-status`) and one path per need."""
    if not steps:
        return ""
    places = layout(steps)
    width = PAD * 2 + (max(c for c, _ in places.values()) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(r for _, r in places.values()) + 1) * (NODE_H + GAP_Y) - GAP_Y

    def origin(step_id: str) -> tuple[int, int]:
        column, row = places[step_id]
        return PAD + column * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y)

    parts = [
        f'<svg class="dag" role="img" aria-label="steps and their needs" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#8c959f"/></marker></defs>',
    ]
    for step in steps:
        x2, y2 = origin(step.id)
        for need in step.needs:
            if need not in places:
                continue
            x1, y1 = origin(need)
            x1, y1, y2m = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
            bend = (x2 - x1) / 2
            parts.append(
                f'<path class="edge" data-from="{escape(need)}" data-to="{escape(step.id)}" '
                f'd="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2m} {x2},{y2m}" marker-end="url(#arrow)"/>'
            )
    for step in steps:
        x, y = origin(step.id)
        status = escape(step.status)
        parts.append(
            f'<g class="node st-{status.replace(" ", "-")}" data-step="{escape(step.id)}" data-status="{status}">'
            f"<title>{escape(step.id)} ({escape(step.component)}): {status}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7"/>'
            f'<text x="{x + 10}" y="{y + 19}" class="id">{escape(_short(step.id, 24))}</text>'
            f'<text x="{x + 10}" y="{y + 36}" class="sub">{escape(_short(step.component, 20))} \u00b7 {status}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
