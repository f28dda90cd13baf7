"""Render diagnostics as text (people), JSON (tools) or SARIF (code-review annotations).

Input is always a list already sorted by (file, line, column, code), so every format is
byte-identical from run to run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence

from osiris.compiler import __version__
from osiris.compiler.checks.secrets import Cut, redact_line, secret_cuts
from osiris.oml.codes import CATALOG
from osiris.oml.diagnostics import Diagnostic

FileDiagnostics = Sequence[tuple[str, Sequence[Diagnostic]]]
"""(file label, its diagnostics) in the order the files were given."""

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_RESET = "\x1b[0m"


EXCERPT_WIDTH = 240
"""A longer source line is shown as a window around the span, so a one-line 4 MB document
with many problems prints a few kilobytes, not 50 copies of itself."""

_Redacted = dict[tuple[str, int], tuple[str, Callable[[int, bool], int]]]

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters a terminal acts on rather than shows: C0 controls but tab and newline (ESC starts
colour, cursor and title sequences, CR rewrites the line), DEL, C1 controls (0x9b is an 8-bit
CSI), and the bidirectional overrides that reorder what is read."""


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on written as its escape (`\x1b`,
    `\u202e`): a key or value from an untrusted manifest or session can reach a message, and
    must not rewrite the screen or its title."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


def _excerpt(diagnostic: Diagnostic, lines: list[str] | None, colour: bool,
             cuts: Mapping[tuple[str, int], list[Cut]], redacted: _Redacted) -> list[str]:
    span = diagnostic.span
    if span.file_level:  # about the whole file, not a line of it
        return []
    if not lines or not 1 <= span.line <= len(lines):
        return []
    # Secrets (OML080's values, credential-shaped text) are shown as ***, carets moved to match.
    # The whole line is masked (a window could cut a key from its value), once per line.
    key = (span.file, span.line)
    if key not in redacted:
        redacted[key] = redact_line(lines[span.line - 1].rstrip("\n").expandtabs(1), cuts.get(key, ()))
    source, column_of = redacted[key]
    source = terminal_safe(source)
    width = len(str(span.line))
    column = column_of(span.column, False)
    end = column_of(span.end_column, True) if span.end_line == span.line else len(source) + 1
    if len(source) > EXCERPT_WIDTH:
        source, column, end = _window(source, column, end)
    carets = "^" * max(1, min(end, len(source) + 1) - column)
    caret_line = " " * (column - 1) + carets
    if colour:
        caret_line = _COLOURS[diagnostic.severity] + caret_line + _RESET
    return [f" {span.line} | {source}", f" {' ' * width} | {caret_line}"]


def _window(source: str, column: int, end: int) -> tuple[str, int, int]:
    """At most EXCERPT_WIDTH characters of `source` from a little before `column`, marked with
    `…` where cut; the 1-based column and exclusive end moved to match."""
    start = max(0, column - 1 - EXCERPT_WIDTH // 4)
    stop = min(len(source), start + EXCERPT_WIDTH)
    head, tail = ("…" if start else ""), ("…" if stop < len(source) else "")
    shift = start - len(head)
    return head + source[start:stop] + tail, column - shift, min(end - shift, stop - shift + 1)


def render_text(files: FileDiagnostics, sources: Mapping[str, str] | None = None, *,
                colour: bool = False, limit: int = 50) -> str:
    """`file:line:col: severity[CODE]: message`, a source excerpt, and an indented `help:`."""
    out: list[str] = []
    errors = warnings = 0
    split = {name: text.splitlines() for name, text in (sources or {}).items()}
    cuts = secret_cuts(d for _, diagnostics in files for d in diagnostics)
    redacted: _Redacted = {}
    for file, diagnostics in files:
        for shown, d in enumerate(diagnostics):
            errors += d.severity == "error"
            warnings += d.severity == "warning"
            if shown >= limit:
                continue
            severity = f"{_COLOURS[d.severity]}{d.severity}{_RESET}" if colour else d.severity
            out.append(f"{terminal_safe(d.span.file)}:{d.span.line}:{d.span.column}: {severity}[{d.code}]: "
                       f"{terminal_safe(d.message)}")
            out.extend(_excerpt(d, split.get(d.span.file), colour, cuts, redacted))
            if d.help:
                out.append(f"  help: {terminal_safe(d.help)}")
        if len(diagnostics) > limit:
            out.append(f"{terminal_safe(file)}: ... and {len(diagnostics) - limit} more diagnostics "
                       "(use --format json for all)")
    if errors or warnings:
        parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
        out.append(f"{' and '.join(parts)} in {len(files)} file{'s' if len(files) != 1 else ''}")
    return "\n".join(out) + ("\n" if out else "")


def diagnostic_json(d: Diagnostic) -> dict:
    return {
        "file": d.span.file, "line": d.span.line, "column": d.span.column,
        "end": {"line": d.span.end_line, "column": d.span.end_column},
        "code": d.code, "name": d.name, "severity": d.severity,
        "message": d.message, "help": d.help, "pointer": d.pointer,
    }


def render_json(files: FileDiagnostics) -> str:
    body = {
        "version": 1,
        "files": [{"file": f, "ok": not any(d.severity == "error" for d in ds),
                   "diagnostics": [diagnostic_json(d) for d in ds]} for f, ds in files],
        "summary": {
            "errors": sum(d.severity == "error" for _, ds in files for d in ds),
            "warnings": sum(d.severity == "warning" for _, ds in files for d in ds),
        },
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def render_sarif(files: FileDiagnostics) -> str:
    """SARIF 2.1.0, which GitHub code scanning and other CI tools turn into PR annotations."""
    used = sorted({d.code for _, ds in files for d in ds})
    rules = [{
        "id": code, "name": CATALOG[code].name,
        "shortDescription": {"text": CATALOG[code].summary},
        "fullDescription": {"text": CATALOG[code].explanation},
        "defaultConfiguration": {"level": CATALOG[code].severity},
        "help": {"text": f"omlc explain {code}"},
    } for code in used]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for _, diagnostics in files:
        for d in diagnostics:
            message = d.message + (f"\nhelp: {d.help}" if d.help else "")
            results.append({
                "ruleId": d.code, "ruleIndex": index[d.code], "level": d.severity,
                "message": {"text": message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": d.span.file},
                    "region": {"startLine": d.span.line, "startColumn": d.span.column,
                               "endLine": d.span.end_line, "endColumn": d.span.end_column},
                }}],
                "properties": {"pointer": d.pointer},
            })
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "omlc", "version": __version__,
                                      "rules": rules}},
                  "results": results}],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False) + "\n"
