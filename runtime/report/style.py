"""The report's one stylesheet, inlined into every page (no external fonts: the system's own)."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:80rem;
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
.err pre.msg{background:none;padding:.2rem 0;margin:.2rem 0}
.scroll{overflow-x:auto}svg text{font:12px system-ui,sans-serif;fill:#1d232a}
svg text.sub{font-size:10.5px;fill:#57606a}svg text.tick{font-size:10px;fill:#57606a}
.edge{fill:none;stroke:#8c959f;stroke-width:1.5}
.node rect{fill:#f6f8fa;stroke:#8c959f;stroke-width:1.2}
.node.st-succeeded rect,.bar.st-succeeded{fill:#dafbe1;stroke:#1a7f37}
.node.st-failed rect,.bar.st-failed,.node.st-not-finished rect{fill:#ffebe9;stroke:#cf222e;stroke-width:2}
.node.st-skipped rect,.node.st-cancelled rect,.bar.st-skipped,.bar.st-cancelled{fill:#fff8c5;stroke:#9a6700}
.node.st-running rect,.node.st-waiting rect,.bar.st-running{fill:#ddf4ff;stroke:#0969da}
.bar{stroke-width:1}.part{fill:#6e7781}.part.retried{fill:#cf222e;opacity:.6}
.axis{stroke:#8c959f}.grid{stroke:#eaeef2}
details{margin:.3rem 0}summary{cursor:pointer}
"""
