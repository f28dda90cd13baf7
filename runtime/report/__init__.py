"""`osiris report`: one self-contained HTML file per session (inline CSS and SVG, no scripts, no
network), built from the files the runtime wrote into the session folder.

One job per module: `jsonl` reads the logs, `gather` turns a session folder into plain data,
`dag` and `timeline` draw SVG, `page` writes the HTML.
"""

from __future__ import annotations

from osiris.runtime.report.gather import ReportError
from osiris.runtime.report.jsonl import read_jsonl
from osiris.runtime.report.page import partition_rows, render_report, write_report

__all__ = ["ReportError", "partition_rows", "read_jsonl", "render_report", "write_report"]
