"""Read one session folder into the plain data the report draws: steps in manifest order with
their `needs`, status, metrics, OML position and masked config.

Everything here comes from files the runtime already masked when it wrote them; the config is
passed through a fresh masker once more (credential-looking keys and credential-shaped text),
so even a hand-edited compiled folder cannot put a secret on the page. Nothing is unmasked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.oml.canonical import nests_deeper_than, utf8_encodable
from osiris.oml.yaml_compose import Limits
from osiris.runtime.report.jsonl import read_jsonl

__all__ = ["ReportError", "RunData", "StepData", "gather"]


class ReportError(Exception):
    """The session cannot be reported (its status.json is damaged)."""


@dataclass
class StepData:
    """One step as the report shows it. `metrics` holds metrics.jsonl's values for the step
    (the numbers shown come from there first, status.json only fills gaps)."""

    id: str
    component: str = ""
    kind: str = ""
    needs: list[str] = field(default_factory=list)
    level: int = 0
    status: str = "pending"
    metrics: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    oml: str | None = None
    config: Any = None

    def figure(self, name: str, fallback: str | None = None) -> Any:
        """A metric's value, else status.json's field `fallback` (or `name`), else None."""
        if name in self.metrics:
            return self.metrics[name]
        return self.result.get(fallback or name)


@dataclass
class RunData:
    session_dir: Path
    status: dict[str, Any]
    events: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    steps: list[StepData]
    effective: Any = None
    manifest_text: str | None = None


def gather(session_dir: Path) -> RunData:
    """The session's data; ReportError when status.json is damaged."""
    from osiris.runtime.session import read_status
    from osiris.runtime.status import session_view

    events = read_jsonl(session_dir / "events.jsonl")
    metrics = read_jsonl(session_dir / "metrics.jsonl")
    status = session_view(session_dir, read_status(session_dir), events)
    if status.get("damaged"):
        raise ReportError(status["damaged"])
    compiled = session_dir / "compiled"
    manifest_text = _read_text(compiled / "manifest.yaml")
    manifest = _load_yaml(manifest_text)
    steps = _steps(status, manifest, metrics, _sourcemap(compiled))
    configs = _read_json(compiled / "cfg.json")
    for step in steps:
        config = configs.get(step.id) if isinstance(configs, dict) else None
        step.config = _masked(config) if isinstance(config, dict) else None
    effective = _masked(_read_json(compiled / "effective_config.json"))
    return RunData(session_dir, status, events, metrics, steps, effective, manifest_text)


def _steps(
    status: dict[str, Any], manifest: Any, metrics: list[dict[str, Any]], positions: dict[str, str]
) -> list[StepData]:
    """Manifest order when the manifest is readable, else status.json's; steps only one of them
    knows are still listed."""
    raw_results = status.get("steps")
    results: dict[str, Any] = raw_results if isinstance(raw_results, dict) else {}
    steps: dict[str, StepData] = {}
    listed = manifest.get("steps") if isinstance(manifest, dict) else None
    for raw in listed if isinstance(listed, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        needs = [str(n) for n in raw.get("needs") or [] if isinstance(n, str)]
        level = raw["level"] if isinstance(raw.get("level"), int) else 0
        component, kind = str(raw.get("component") or ""), str(raw.get("kind") or "")
        steps[raw["id"]] = StepData(raw["id"], component, kind, needs, level)
    for step_id, result in results.items():
        step = steps.setdefault(str(step_id), StepData(str(step_id)))
        if isinstance(result, dict):
            step.result = result
            step.status = str(result.get("status") or step.status)
            step.component = step.component or str(result.get("component") or "")
            step.kind = step.kind or str(result.get("kind") or "")
    for record in metrics:
        measured = steps.get(str(record.get("step_id")))
        if measured is not None and record.get("metric"):
            measured.metrics[str(record["metric"])] = record.get("value")
    for step in steps.values():
        step.oml = positions.get(step.id)
    _relevel(steps)
    return list(steps.values())


def _relevel(steps: dict[str, StepData]) -> None:
    """Level = longest chain of `needs` above a step (what the compiler writes; recomputed so a
    manifest without levels, or status-only steps, still lay out). Cycles cannot come from the
    compiler; a hand-made one is cut rather than looped on."""
    done: dict[str, int] = {}

    def level(step_id: str, seen: frozenset[str]) -> int:
        if step_id in done:
            return done[step_id]
        step = steps.get(step_id)
        parents = [n for n in (step.needs if step else []) if n in steps and n not in seen]
        value = 1 + max((level(p, seen | {step_id}) for p in parents), default=-1)
        done[step_id] = value
        return value

    for step_id, step in steps.items():
        step.level = level(step_id, frozenset())


def _sourcemap(compiled: Path) -> dict[str, str]:
    """Step id -> `file:line:column` of its OML, from the compiled folder's sourcemap.json."""
    data = _read_json(compiled / "sourcemap.json")
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        return {}
    name = str(data.get("file") or "pipeline.yaml")
    found = {}
    for step_id, where in data["steps"].items():
        if isinstance(where, dict) and "line" in where:
            found[str(step_id)] = f"{name}:{where.get('line')}:{where.get('column', 1)}"
    return found


def _masked(value: Any) -> Any:
    if value is None:
        return None
    from osiris.oml.secrets import SecretMasker

    return SecretMasker().mask_data(value)


REPORT_FILE_LIMIT = 64 * 2**20
"""The largest session file a report reads (the manifest file floor of compiler.manifest)."""


def _read_text(path: Path) -> str | None:
    """A session file's text; None for one that is missing, a symbolic link (a hostile session
    could link compiled/manifest.yaml to a connections file), special or too large."""
    from osiris.compiler.files import NotAPlainFile, read_plain_file

    try:
        return read_plain_file(path, path.name, REPORT_FILE_LIMIT).decode("utf-8", errors="replace")
    except NotAPlainFile:
        return None


def _read_json(path: Path) -> Any:
    """A session JSON file's data; None when unreadable, malformed, too deep to parse, or holding
    a lone surrogate escape (which no HTML page can carry)."""
    text = _read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return None if nests_deeper_than(data, Limits.max_depth) or not utf8_encodable(data) else data


def _load_yaml(text: str | None) -> Any:
    if text is None:
        return None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except (YAMLError, ValueError, RecursionError):
        return None
