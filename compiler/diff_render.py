"""`omlc diff`'s three outputs: text for a terminal, JSON for tools, Markdown for a pull request."""

from __future__ import annotations

import json
from typing import Any

from osiris.compiler.diff import Change, Diff
from osiris.compiler.render import terminal_safe

_MARK = {"added": "+", "removed": "-", "changed": "~"}
_SHOWN = 60
"""Characters of a value shown in text and Markdown (JSON carries it whole)."""


def _value(value: Any) -> str:  # noqa: ANN401 - a config or manifest value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _at(change: Change) -> str:
    places = [p for p in (change.old_at, change.new_at) if p]
    if len(places) == 2 and places[0] == places[1]:
        places = places[:1]
    return " -> ".join(places)


def _summary(result: Diff) -> str:
    if result.identical:
        return "no differences"
    counts = result.counts()
    return ", ".join(f"{counts[s]} {s}" for s in counts if counts[s])


def render_text(result: Diff) -> str:
    lines = [f"omlc diff {result.old.label} {result.new.label}"]
    for change in result.changes:
        subject = f"step {change.step}" if change.step else "pipeline"
        line = f"{_MARK[change.what]} {subject}: {change.where} [{change.severity}] {change.reason}"
        if change.what == "changed" and change.where != "text":
            line += f"\n    {_value(change.old)} -> {_value(change.new)}"
        if _at(change):
            line += f"\n    at {_at(change)}"
        lines.append(line)
    lines.append(_summary(result))
    return terminal_safe("\n".join(lines)) + "\n"


def render_json(result: Diff) -> str:
    return json.dumps(result.to_data(), indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: Diff) -> str:
    """A pull-request comment: the verdict first, then one row per change."""
    worst = result.worst
    verdict = {"breaking": "**Breaking changes**", "non-breaking": "Non-breaking changes only",
               "cosmetic": "Cosmetic changes only", None: "No differences"}[worst]
    lines = [f"### `omlc diff`: {verdict}", "", f"`{result.old.label}` -> `{result.new.label}`: {_summary(result)}"]
    if result.changes:
        lines += ["", "| | step | what | class | why | old | new | where |", "|---|---|---|---|---|---|---|---|"]
        for change in result.changes:
            old = "" if change.what == "added" or change.old is None else f"`{_cell(_value(change.old))}`"
            new = "" if change.what == "removed" or change.new is None else f"`{_cell(_value(change.new))}`"
            lines.append(f"| {_MARK[change.what]} | {change.step or '(pipeline)'} | `{change.where}` | "
                         f"{change.severity} | {_cell(change.reason)} | {old} | {new} | {_cell(_at(change))} |")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
