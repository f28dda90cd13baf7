"""The report's HTML: summary, DAG, timeline, steps, errors, outputs, partitions, metrics, config,
events and manifest.

Inline CSS and SVG only, no scripts and no external assets (a Content-Security-Policy that allows
nothing else says so to the browser too), so the file can be mailed or archived and opens from
file://. Every value is HTML-escaped; what is shown was masked by the runtime when it was written.
"""

from __future__ import annotations

import errno
import json
from html import escape
from pathlib import Path
from typing import Any

from osiris.compiler.files import write_atomic
from osiris.runtime.events import HEADER_FIELDS
from osiris.runtime.report.dag import render_dag
from osiris.runtime.report.gather import ReportError, RunData, StepData, gather
from osiris.runtime.report.style import CSS
from osiris.runtime.report.timeline import render_timeline

__all__ = ["partition_rows", "render_report", "write_report"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _badge(status: Any) -> str:
    text = escape(str(status))
    return f'<span class="badge {text}">{text}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any) -> str:
    """Integers with thousands separators, other numbers as written, missing as empty."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) > 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else f"{value:.0f}"
    return escape(str(value))


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


def _header(run: RunData) -> list[str]:
    status = run.status
    sid = escape(str(status.get("session_id") or run.session_dir.name))
    name = escape(str(status.get("pipeline") or status.get("source") or "run"))
    totals = status.get("totals") or {}
    peak = status.get("peak_rss_mb")
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>Osiris run {sid}</title>',
        f"<style>{CSS}</style></head><body>",
        f'<h1>{name} <span id="run-status">{_badge(status.get("state") or status.get("status", "unknown"))}'
        "</span></h1>",
        f'<p class="muted">session <code>{sid}</code> &middot; '
        f"started {escape(str(status.get('started_at')))}"
        f" &middot; {int(status.get('duration_ms') or 0):,} ms &middot; manifest "
        f"<code>{escape(str(status.get('manifest_fp') or '-'))}</code>"
        + (f" &middot; peak RSS {escape(str(peak))} MiB" if peak is not None else "")
        + "</p>",
        _table(
            ["rows read", "rows written", "bytes written", "steps", "failed", "skipped"],
            [[_num(totals.get(k, 0)) for k in
              ("rows_read", "rows_written", "bytes_written", "steps", "steps_failed", "steps_skipped")]],
            numeric={0, 1, 2, 3, 4, 5},
        ),
    ]
    if isinstance(status.get("error"), dict):
        parts.append(f'<div class="err">{escape(str(status["error"].get("message")))}</div>')
    if status.get("state") == "killed":
        unfinished = ", ".join(status.get("unfinished_steps") or [])
        parts.append(
            '<div class="err">killed: the process ended without finishing the run'
            + (f" (steps not finished: {escape(unfinished)})" if unfinished else "")
            + "; writers commit all or nothing, so targets were left as they were</div>"
        )
    return parts


_COLUMNS = (  # (header, metric, status.json field)
    ("rows read", "rows_read", "rows_read"),
    ("rows out", "rows_out", "rows_out"),
    ("rows written", "rows_written", "rows_written"),
    ("bytes", None, "bytes"),
    ("ms", "duration_ms", "duration_ms"),
    ("rows/s", None, None),
    ("attempts", "attempts", "attempts"),
    ("peak RSS MiB", "peak_rss_mb", "peak_rss_mb"),
)


def rows_per_second(step: StepData) -> float | None:
    """Rows read per second of the step's duration: every kind reads rows (from its source or its
    inputs), so one definition fits extractors, transforms and writers."""
    rows, ms = step.figure("rows_read"), step.figure("duration_ms")
    if not isinstance(rows, (int, float)) or not isinstance(ms, (int, float)) or ms <= 0:
        return None
    return round(rows * 1000.0 / ms)


def _step_cells(step: StepData) -> str:
    cells = []
    for _, metric, field in _COLUMNS:
        if field == "bytes":  # writers' bytes written, the others' Arrow bytes produced
            metric = "bytes_written" if "bytes_written" in step.metrics else "bytes_out"
        value = rows_per_second(step) if field is None else step.figure(metric or field, field)
        name = metric or "rows_per_s"
        cells.append(f'<td class="n" data-metric="{name}">{_num(value)}</td>')
    return "".join(cells)


def _steps(run: RunData) -> list[str]:
    if not run.steps:
        return []
    head = "".join(f"<th>{escape(h)}</th>" for h in ("step", "component", "status", *(c[0] for c in _COLUMNS), "OML"))
    body = []
    for step in run.steps:
        oml = f"<code>{escape(step.oml)}</code>" if step.oml else ""
        body.append(
            f'<tr data-step="{escape(step.id)}" data-status="{escape(step.status)}">'
            f"<td><code>{escape(step.id)}</code></td><td>{escape(step.component)}</td>"
            f"<td>{_badge(step.status)}</td>{_step_cells(step)}<td>{oml}</td></tr>"
        )
    table = f'<table id="steps"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    parts = ["<h2>Steps</h2>", table]
    for step in run.steps:
        error = step.result.get("error")
        if isinstance(error, dict):
            hint = (
                f'<br><span class="muted">hint: {escape(str(error["hint"]))}</span>' if error.get("hint") else ""
            )
            where = error.get("source") or step.oml
            at = f'<br>at <code class="source">{escape(str(where))}</code>' if where else ""
            parts.append(
                f'<div class="err" data-step="{escape(step.id)}"><b>{escape(step.id)}</b> ({escape(step.component)}): '
                f"{escape(str(error.get('error_type') or 'error'))}: "
                f"<pre class=\"msg\">{escape(str(error.get('message')))}</pre>{at}{hint}</div>"
            )
        elif step.result.get("skip_reason"):
            parts.append(
                f'<p class="muted">{escape(step.id)} {escape(step.status)}: '
                f'{escape(str(step.result["skip_reason"]))}</p>'
            )
    return parts


def _outputs(run: RunData) -> list[str]:
    outputs = [o for o in run.status.get("outputs") or [] if isinstance(o, dict)]
    if not outputs:
        return []
    return ["<h2>Outputs</h2>", _table(
        ["target", "step", "rows", "bytes"],
        [[f"<code>{escape(str(o.get('target')))}</code>", escape(str(o.get("step_id"))),
          _num(o.get("rows", 0)), _num(o.get("bytes", 0))] for o in outputs],
        numeric={2, 3},
    )]


def _partitions(run: RunData) -> list[str]:
    partitions = partition_rows(run.events)
    if not partitions:
        return []
    return ["<h2>Partitions</h2>", _table(
        ["step", "partition", "rows", "worker", "attempt", "re-runs", "ms"],
        [[f"<code>{escape(str(p['step_id']))}</code>", escape(str(p["partition"])), _num(p["rows"] or 0),
          escape(p["worker"]), escape(str(p["attempt"])), str(p["lost_workers"]), _num(p["duration_ms"] or 0)]
         for p in partitions],
        numeric={1, 2, 4, 5, 6},
    )]


def _metrics_table(metrics: list[dict[str, Any]]) -> list[str]:
    """One row per step, one column per metric name (run-level figures are in the header)."""
    names: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for m in metrics:
        if not m.get("step_id"):
            continue
        name = str(m.get("metric"))
        if name not in names:
            names.append(name)
        unit = f" {m['unit']}" if m.get("unit") not in (None, "rows", "bytes", "count") else ""
        rows.setdefault(str(m["step_id"]), {})[name] = f"{m.get('value')}{unit}"
    if not rows:
        return []
    body = [
        [f"<code>{escape(step)}</code>", *(escape(str(values.get(n, ""))) for n in names)]
        for step, values in rows.items()
    ]
    return ["<h2>Metrics</h2>", _table(["step", *names], body, numeric=set(range(1, len(names) + 1)))]


def _config(run: RunData) -> list[str]:
    """The effective config the run executed (compiled/cfg and effective_config.json), masked."""
    blocks = []
    if run.effective is not None:
        blocks.append(f"<details open><summary>parameters and profile</summary>"
                      f"<pre>{escape(json.dumps(run.effective, indent=2, ensure_ascii=False))}</pre></details>")
    for step in run.steps:
        if step.config is not None:
            blocks.append(f'<details data-step="{escape(step.id)}"><summary><code>{escape(step.id)}</code></summary>'
                          f"<pre>{escape(json.dumps(step.config, indent=2, ensure_ascii=False))}</pre></details>")
    return ["<h2>Effective config</h2>", '<p class="muted">secrets masked as ***</p>', *blocks] if blocks else []


def _events(run: RunData) -> list[str]:
    if not run.events:
        return []
    rows = []
    for event in run.events:
        rest = {k: v for k, v in event.items() if k not in HEADER_FIELDS}
        rows.append([
            escape(str(event.get("ts", ""))), escape(str(event.get("event"))), escape(str(event.get("step_id", ""))),
            f"<code>{escape(json.dumps(rest, ensure_ascii=False))}</code>" if rest else "",
        ])
    return ["<h2>Events</h2>", _table(["time (UTC)", "event", "step", "details"], rows)]


def render_report(session_dir: Path) -> str:
    """The report's HTML; ReportError when status.json is damaged (not the shape the runtime writes)."""
    run = gather(session_dir)
    parts = _header(run)
    dag = render_dag(run.steps)
    if dag:
        parts += ["<h2>Graph</h2>", f'<div class="scroll">{dag}</div>']
    timeline = render_timeline(run.steps, run.events)
    if timeline:
        parts += ["<h2>Timeline</h2>", f'<div class="scroll">{timeline}</div>']
    parts += _steps(run) + _outputs(run) + _partitions(run) + _metrics_table(run.metrics) + _config(run)
    parts += _events(run)
    if run.manifest_text is not None:
        parts += ["<h2>Manifest</h2>", f"<pre>{escape(run.manifest_text)}</pre>"]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(session_dir: Path, out: Path | None = None) -> Path:
    """Render, then replace the target in one step: a failure leaves no partial report behind.

    Raises ReportError for a damaged session and OSError when the target cannot be written.
    """
    if out is None and (session_dir / "artifacts").is_symlink():  # it could lead out of the session
        raise ReportError(f"{session_dir / 'artifacts'} is a symbolic link; the report is written only "
                          "inside the session (give --out FILE)")
    target = out or session_dir / "artifacts" / "report.html"
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
    text = render_report(session_dir)
    write_atomic(target, text, private=True)  # what the run saw: private like the session itself
    return target
