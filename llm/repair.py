"""Check a draft with the compiler and turn its diagnostics into the next request to the model.

The compiler is the only judge: a draft is good when `compile_text` (the code path behind
`omlc check`) reports no error. The repair request quotes the diagnostics as `omlc check`
prints them (code, line, caret excerpt, help such as "did you mean 'query'?"), errors only,
so the model sees what a person would. After the last round, `unresolved_message` tells the
user plainly what is still wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.render import render_text
from osiris.oml.diagnostics import Diagnostic

__all__ = ["DRAFT_FILE", "CheckResult", "check_oml", "extract_oml", "repair_request", "unresolved_message"]

DRAFT_FILE = "pipeline.yaml"
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    text: str
    diagnostics: tuple[Diagnostic, ...]
    pipeline: Any = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def as_json(self, *, errors_only: bool = False) -> list[dict[str, Any]]:
        return [
            {
                "code": d.code,
                "severity": d.severity,
                "line": d.span.line,
                "column": d.span.column,
                "message": d.message,
                "help": d.help,
            }
            for d in self.diagnostics
            if not errors_only or d.severity == "error"
        ]

    def rendered(self, *, errors_only: bool = True) -> str:
        shown = self.errors if errors_only else list(self.diagnostics)
        return render_text([(DRAFT_FILE, shown)], {DRAFT_FILE: self.text})


def no_draft(reason: str) -> CheckResult:
    """A reply without OML is a failed draft; the reason becomes its one 'diagnostic'."""
    return CheckResult(False, "", (), {"reason": reason})


def check_oml(
    text: str,
    *,
    connections: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckResult:
    """`omlc check` as a function: the draft against the specs and the connections file."""
    options = CompileOptions(connections=connections, cwd=cwd, env=env)
    result = compile_text(text, DRAFT_FILE, options)
    return CheckResult(result.ok, text, tuple(result.diagnostics), result.pipeline)


def extract_oml(content: str) -> str | None:
    """The pipeline in a reply: the last fenced block that looks like OML (```yaml preferred),
    or the whole reply when it is bare OML."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(content or "")]
    candidates = [body for lang, body in blocks if lang in ("yaml", "yml", "oml") and "steps" in body]
    candidates = candidates or [body for _, body in blocks if "steps:" in body and "oml_version" in body]
    if candidates:
        return candidates[-1].strip() + "\n"
    stripped = (content or "").strip()
    if stripped.startswith("oml_version") and "steps:" in stripped:
        return stripped + "\n"
    return None


def repair_request(templates: Any, result: CheckResult, round_no: int, max_rounds: int) -> str:
    if not result.text:
        reason = (result.pipeline or {}).get("reason", "no pipeline found")
        diagnostics = f"Your answer had no pipeline: {reason}. Put the whole OML in a ```yaml block."
    else:
        diagnostics = result.rendered().strip()
    return templates.render("repair", diagnostics=diagnostics, round=round_no, max_rounds=max_rounds)


def unresolved_message(result: CheckResult, rounds: int) -> str:
    """What the user reads when repair gives up: every remaining error, one per line."""
    if not result.text:
        reason = (result.pipeline or {}).get("reason", "no pipeline")
        return f"The model did not produce a pipeline after {rounds} repair rounds ({reason})."
    lines = [f"The pipeline still has {len(result.errors)} error(s) after {rounds} repair round(s):"]
    for d in result.errors:
        lines.append(f"  line {d.span.line}: {d.code} {d.message}" + (f" ({d.help})" if d.help else ""))
    return "\n".join(lines)
