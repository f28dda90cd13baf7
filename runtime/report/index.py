"""`osiris report --index`: one HTML page listing every session under the sessions folder, newest
first, with status, duration, rows and a link to each run's report.

Only status.json is read per session (events.jsonl only for a run that never recorded its end, to
tell killed from running), so a folder of a thousand runs is one small read each; the page is one
table, built as a list of strings joined once. Same rules as a run's report: inline CSS, no
scripts, a Content-Security-Policy that loads nothing, every value escaped.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

from osiris.compiler.files import write_atomic
from osiris.runtime.report.jsonl import read_jsonl
from osiris.runtime.report.style import CSS

__all__ = ["REPORT_NAME", "index_rows", "render_index", "write_index"]

REPORT_NAME = Path("artifacts") / "report.html"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def index_rows(root: Path) -> list[dict[str, Any]]:
    """One plain row per session, newest first (`runtime.session.list_sessions`' order)."""
    from osiris.runtime.session import list_sessions
    from osiris.runtime.status import session_view

    rows = []
    for info in list_sessions(root):
        path = info.path
        view = session_view(path, info.status, lambda path=path: read_jsonl(path / "events.jsonl"))
        totals = view.get("totals") if isinstance(view.get("totals"), dict) else {}
        rows.append({
            "session_id": info.id,
            "path": path,
            "state": str(view.get("state") or "unknown"),
            "pipeline": view.get("pipeline") or view.get("source"),
            "started_at": view.get("started_at"),
            "duration_ms": view.get("duration_ms"),
            "rows_read": totals.get("rows_read"),
            "rows_written": totals.get("rows_written"),
            "steps_failed": totals.get("steps_failed"),
            "has_report": (path / REPORT_NAME).is_file(),
        })
    return rows


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else ""


def render_index(root: Path, out: Path) -> str:
    """The page; links are relative to `out`'s folder, so the index and the sessions can move together."""
    rows = index_rows(root)
    base = out.parent.resolve()
    body = []
    for row in rows:
        sid = escape(row["session_id"])
        if row["has_report"]:
            href = escape(Path(os.path.relpath((row["path"] / REPORT_NAME).resolve(), base)).as_posix(), quote=True)
            name = f'<a href="{href}"><code>{sid}</code></a>'
        else:
            name = f'<code>{sid}</code> <span class="muted">(no report yet: osiris report {sid})</span>'
        state = escape(row["state"])
        body.append(
            f'<tr data-session="{sid}" data-status="{state}"><td>{escape(str(row["started_at"] or ""))}</td>'
            f"<td>{name}</td><td>{escape(str(row['pipeline'] or ''))}</td>"
            f'<td><span class="badge {state}">{state}</span></td>'
            f'<td class="n" data-field="duration_ms">{_n(row["duration_ms"])}</td>'
            f'<td class="n" data-field="rows_read">{_n(row["rows_read"])}</td>'
            f'<td class="n" data-field="rows_written">{_n(row["rows_written"])}</td>'
            f'<td class="n" data-field="steps_failed">{_n(row["steps_failed"])}</td></tr>'
        )
    columns = ("started (UTC)", "session", "pipeline", "status", "ms", "rows read", "rows written", "failed steps")
    head = "".join(f"<th>{h}</th>" for h in columns)
    failed = sum(1 for row in rows if row["state"] != "succeeded")
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Osiris runs</title>',
        f"<style>{CSS}</style></head><body><h1>Osiris runs</h1>",
        f'<p class="muted">{len(rows):,} sessions in <code>{escape(str(root))}</code>, newest first; '
        f"{failed:,} did not succeed</p>",
        f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>',
        "\n".join(body),
        "</tbody></table></body></html>\n",
    ])


def write_index(root: Path, out: Path | None = None) -> Path:
    """Render, then replace the target in one step (private: it lists what the runs saw)."""
    target = out or root / "index.html"
    write_atomic(target, render_index(root, target), private=True)
    return target
