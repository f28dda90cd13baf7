"""A self-contained HTML report of one session: summary, steps, outputs, errors, events, metrics.

Inline CSS only, no scripts and no external assets, so the file can be mailed or archived.
It is built from the session's files, which the runtime masked when it wrote them; every
value is HTML-escaped.
"""

from __future__ import annotations

import errno
import json
from html import escape
from pathlib import Path
from typing import Any

from osiris.compiler.files import write_atomic
from osiris.runtime.events import HEADER_FIELDS

__all__ = ["ReportError", "read_jsonl", "render_report", "write_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d232a;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .6rem;
border-bottom:1px solid #eee;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;
font-variant-numeric:tabular-nums}code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.6rem;font-size:.85em;font-weight:600}
.succeeded{background:#dafbe1;color:#116329}.failed{background:#ffebe9;color:#a40e26}
.skipped,.cancelled{background:#fff8c5;color:#7d4e00}.running,.waiting,.pending{background:#ddf4ff;color:#0550ae}
td>code{white-space:nowrap}
.killed,.damaged,.not{background:#ffebe9;color:#a40e26}
.muted{color:#57606a}.err{border-left:4px solid #cf222e;padding:.4rem .8rem;background:#fff5f5;margin:.5rem 0}
"""


def _badge(status: Any) -> str:
    text = escape(str(status))
    return f'<span class="badge {text}">{text}</span>'


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; lines that are not objects (half-written, hand-edited)
    and an unreadable or missing file are skipped, so a damaged log never stops a reader."""
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records


class ReportError(Exception):
    """The session cannot be reported (its status.json is damaged)."""


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def partition_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (step, partition) a distributed run finished, from its `partition_complete`
    events, with how often Ray re-ran it (`partition_retry`); empty for a local run."""
    retried: dict[tuple[Any, Any], int] = {}
    for event in events:
        if event.get("event") == "partition_retry":
            key = (event.get("step_id"), event.get("partition"))
            retried[key] = retried.get(key, 0) + 1
    rows = []
    for event in events:
        if event.get("event") != "partition_complete":
            continue
        worker = event.get("worker") or {}
        where = f"{worker.get('node', '?')}/{worker.get('pid', '?')}" if isinstance(worker, dict) else str(worker)
        rows.append({
            "step_id": event.get("step_id"), "partition": event.get("partition"), "rows": event.get("rows", 0),
            "worker": where,
            "attempt": event.get("attempt", 1), "duration_ms": event.get("duration_ms", 0),
            "lost_workers": retried.get((event.get("step_id"), event.get("partition")), 0),
        })
    return rows


def render_report(session_dir: Path) -> str:
    """The report's HTML; ReportError when status.json is damaged (not the shape the runtime writes)."""
    from osiris.runtime.session import read_status
    from osiris.runtime.status import session_view

    events = read_jsonl(session_dir / "events.jsonl")
    metrics = read_jsonl(session_dir / "metrics.jsonl")
    status = session_view(session_dir, read_status(session_dir), events)
    if status.get("damaged"):
        raise ReportError(status["damaged"])
    sid = escape(str(status.get("session_id") or session_dir.name))
    name = escape(str(status.get("pipeline") or status.get("source") or "run"))
    totals = status.get("totals") or {}
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Osiris run {sid}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{name} {_badge(status.get('status', 'unknown'))}</h1>",
        f'<p class="muted">session <code>{sid}</code> &middot; '
        f"started {escape(str(status.get('started_at')))}"
        f" &middot; {int(status.get('duration_ms') or 0):,} ms &middot; manifest "
        f"<code>{escape(str(status.get('manifest_fp') or '-'))}</code>"
        f"{_peak(status)}</p>",
        _table(
            ["rows read", "rows written", "bytes written", "steps", "failed", "skipped"],
            [
                [
                    f"{totals.get('rows_read', 0):,}",
                    f"{totals.get('rows_written', 0):,}",
                    f"{totals.get('bytes_written', 0):,}",
                    str(totals.get("steps", 0)),
                    str(totals.get("steps_failed", 0)),
                    str(totals.get("steps_skipped", 0)),
                ]
            ],
            numeric={0, 1, 2, 3, 4, 5},
        ),
    ]
    if status.get("error"):
        parts.append(f'<div class="err">{escape(str(status["error"].get("message")))}</div>')
    if status.get("state") == "killed":
        unfinished = ", ".join(status.get("unfinished_steps") or [])
        parts.append(
            '<div class="err">killed: the process ended without finishing the run'
            + (f" (steps not finished: {escape(unfinished)})" if unfinished else "")
            + "; writers commit all or nothing, so targets were left as they were</div>"
        )
    steps = status.get("steps") or {}
    if steps:
        parts.append("<h2>Steps</h2>")
        rows = []
        for step_id, step in steps.items():
            rows.append(
                [
                    f"<code>{escape(step_id)}</code>",
                    escape(str(step.get("component"))),
                    _badge(step.get("status")),
                    f"{step.get('rows_read', 0):,}",
                    f"{step.get('rows_out', 0):,}",
                    f"{step.get('rows_written', 0):,}",
                    f"{step.get('bytes', 0):,}",
                    f"{step.get('duration_ms', 0):,}",
                    str(step.get("attempts", 0)),
                    str(step.get("peak_rss_mb", "")),
                ]
            )
        parts.append(
            _table(
                [
                    "step",
                    "component",
                    "status",
                    "rows read",
                    "rows out",
                    "rows written",
                    "bytes",
                    "ms",
                    "attempts",
                    "peak RSS MiB",
                ],
                rows,
                numeric=set(range(3, 10)),
            )
        )
        for step_id, step in steps.items():
            error = step.get("error")
            if error:
                hint = (
                    f'<br><span class="muted">hint: {escape(str(error["hint"]))}</span>'
                    if error.get("hint")
                    else ""
                )
                parts.append(
                    f'<div class="err"><b>{escape(step_id)}</b> ({escape(str(step.get("component")))}): '
                    f"{escape(str(error.get('message')))}{hint}</div>"
                )
            elif step.get("skip_reason"):
                parts.append(
                    f'<p class="muted">{escape(step_id)} {escape(str(step.get("status")))}: '
                    f'{escape(str(step["skip_reason"]))}</p>'
                )
    outputs = status.get("outputs") or []
    if outputs:
        parts.append("<h2>Outputs</h2>")
        parts.append(
            _table(
                ["target", "step", "rows", "bytes"],
                [
                    [
                        f"<code>{escape(str(o.get('target')))}</code>",
                        escape(str(o.get("step_id"))),
                        f"{o.get('rows', 0):,}",
                        f"{o.get('bytes', 0):,}",
                    ]
                    for o in outputs
                ],
                numeric={2, 3},
            )
        )
    partitions = partition_rows(events)
    if partitions:
        parts.append("<h2>Partitions</h2>")
        parts.append(_table(
            ["step", "partition", "rows", "worker", "attempt", "ms"],
            [[f"<code>{escape(str(p['step_id']))}</code>", str(p["partition"]), f"{int(p['rows'] or 0):,}",
              escape(p["worker"]), str(p["attempt"]), f"{int(p['duration_ms'] or 0):,}"] for p in partitions],
            numeric={1, 2, 4, 5},
        ))
    if metrics:
        parts.append("<h2>Metrics</h2>")
        parts.append(_metrics_table(metrics))
    if events:
        parts.append("<h2>Events</h2>")
        rows = []
        for event in events:
            rest = {
                k: v for k, v in event.items() if k not in HEADER_FIELDS
            }
            rows.append(
                [
                    escape(str(event.get("ts", ""))),
                    escape(str(event.get("event"))),
                    escape(str(event.get("step_id", ""))),
                    f"<code>{escape(json.dumps(rest, ensure_ascii=False))}</code>" if rest else "",
                ]
            )
        parts.append(_table(["time (UTC)", "event", "step", "details"], rows))
    manifest = session_dir / "compiled" / "manifest.yaml"
    try:
        manifest_text = manifest.read_text(encoding="utf-8", errors="replace") if manifest.is_file() else None
    except OSError:
        manifest_text = None
    if manifest_text is not None:
        parts.append("<h2>Manifest</h2>")
        parts.append(f"<pre>{escape(manifest_text)}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _peak(status: dict[str, Any]) -> str:
    peak = status.get("peak_rss_mb")
    return f" &middot; peak RSS {escape(str(peak))} MiB" if peak is not None else ""


def _metrics_table(metrics: list[dict[str, Any]]) -> str:
    """One row per step (and one for the run), one column per metric name."""
    names: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for m in metrics:
        if not m.get("step_id"):
            continue  # run-level figures are in the header
        name = str(m.get("metric"))
        if name not in names:
            names.append(name)
        unit = f" {m['unit']}" if m.get("unit") not in (None, "rows", "bytes", "count") else ""
        rows.setdefault(str(m["step_id"]), {})[name] = f"{m.get('value')}{unit}"
    body = [
        [f"<code>{escape(step)}</code>", *(escape(str(values.get(n, ""))) for n in names)]
        for step, values in rows.items()
    ]
    return _table(["step", *names], body, numeric=set(range(1, len(names) + 1)))


def write_report(session_dir: Path, out: Path | None = None) -> Path:
    """Render, then replace the target in one step: a failure leaves no partial report behind.

    Raises ReportError for a damaged session and OSError when the target cannot be written.
    """
    target = out or session_dir / "artifacts" / "report.html"
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
    text = render_report(session_dir)
    write_atomic(target, text, private=True)  # what the run saw: private like the session itself
    return target
