"""`omlc diff`: what changed between two versions of a pipeline, and whether it matters.

Both sides are compiled first (an OML file through the compiler, a compiled directory through
`load_manifest`, which verifies it), so the comparison is between what would run: each step's
manifest entry and its config in cfg.json, defaults filled in and parameters bound. Each change gets a class:

  breaking      the data read or written can differ: a step added or removed, its component,
                mode, connection, inputs or needs, a config value (a table, a write mode, a path),
                SQL whose meaning changed
  non-breaking  how a step runs, not what it produces: retries, `partitions:`, and config keys
                the component's spec marks `x-diff: tuning` (batch sizes, timeouts, threads)
  cosmetic      the text changed and what would run did not: formatting, comments, key order,
                SQL whitespace, comments and case (equal once sqlglot reprints it); the manifest
                fingerprint stays the same

A key the spec does not mark is breaking: a reviewer should look at what the tool cannot vouch for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from osiris.spec.registry import Registry

Severity = Literal["breaking", "non-breaking", "cosmetic"]
SEVERITIES: tuple[Severity, ...] = ("breaking", "non-breaking", "cosmetic")
STEP_FIELDS_BREAKING = ("component", "component_version", "kind", "mode", "connection", "needs", "inputs",
                        "outputs")
"""Manifest step fields whose change can change the data (`family` follows `component`)."""
STEP_FIELDS_TUNING = ("retry", "partitions")
"""How often a step is retried and how a backend splits it: the results are the same (docs/scale-out.md)."""


@dataclass(frozen=True)
class Side:
    """One compiled version: the manifest's data, each step's cfg, and where its steps are written."""

    label: str
    manifest: dict[str, Any]
    cfgs: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    text: str | None = None
    """The OML text, when this side is an OML file (for telling formatting changes apart)."""
    cite: Callable[[str, str | None], str | None] = field(default=lambda step, key: None, repr=False)
    """`file:line:col` of a step (path None) or of a path below it (`config/table`, `retry`), when known."""

    def steps(self) -> dict[str, dict[str, Any]]:
        return {step["id"]: step for step in self.manifest["steps"]}


@dataclass(frozen=True)
class Change:
    step: str | None
    """The step id; None for a change to the pipeline as a whole."""
    what: Literal["added", "removed", "changed"]
    where: str
    """`step`, `config.<key>`, a manifest step field (`retry`, `needs`), or `pipeline.name`, `text`."""
    severity: Severity
    reason: str
    old: Any = None
    new: Any = None
    old_at: str | None = None
    new_at: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"step": self.step, "what": self.what, "where": self.where, "severity": self.severity,
                "reason": self.reason, "old": self.old, "new": self.new, "old_at": self.old_at, "new_at": self.new_at}


@dataclass(frozen=True)
class Diff:
    old: Side
    new: Side
    changes: list[Change]

    @property
    def identical(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        return {severity: sum(c.severity == severity for c in self.changes) for severity in SEVERITIES}

    @property
    def worst(self) -> Severity | None:
        return next((s for s in SEVERITIES if any(c.severity == s for c in self.changes)), None)

    def to_data(self) -> dict[str, Any]:
        return {
            "old": self.old.label, "new": self.new.label, "identical": self.identical, "worst": self.worst,
            "counts": self.counts(),
            "fingerprints": {"old": _fingerprints(self.old), "new": _fingerprints(self.new)},
            "changes": [change.to_data() for change in self.changes],
        }


def _fingerprints(side: Side) -> dict[str, Any]:
    fps = side.meta.get("fingerprints", {})
    return {key: fps.get(key) for key in ("manifest_fp", "oml_fp")}


def diff(old: Side, new: Side, registry: Registry) -> Diff:
    """Every change from `old` to `new`, steps in the new side's plan order, then removed ones."""
    changes: list[Change] = []
    if old.manifest["pipeline"]["name"] != new.manifest["pipeline"]["name"]:
        changes.append(Change(None, "changed", "pipeline.name", "breaking",
                              "the pipeline's name keys its sessions and state",
                              old.manifest["pipeline"]["name"], new.manifest["pipeline"]["name"]))
    old_steps, new_steps = old.steps(), new.steps()
    for step_id, step in new_steps.items():
        before = old_steps.get(step_id)
        if before is None:
            changes.append(Change(step_id, "added", "step", "breaking", f"new {step['kind']} `{step['component']}`",
                                  new_at=new.cite(step_id, None)))
            continue
        changes += _step_changes(step_id, before, step, old, new, registry)
    for step_id, step in old_steps.items():
        if step_id not in new_steps:
            changes.append(Change(step_id, "removed", "step", "breaking",
                                  f"{step['kind']} `{step['component']}` removed", old_at=old.cite(step_id, None)))
    if not changes:
        changes += _unclassified(old, new)
    return Diff(old, new, changes)


def _fp(side: Side, key: str) -> str | None:
    return side.meta.get("fingerprints", {}).get(key)


def _unclassified(old: Side, new: Side) -> list[Change]:
    """No step changed: the fingerprints decide. The same `manifest_fp` proves that whatever differs
    in the OML is cosmetic; a different one that no step explains is reported as breaking:
    a change this module cannot name is never hidden."""
    if _fp(old, "manifest_fp") != _fp(new, "manifest_fp"):
        rest = sorted(key for key in old.manifest.keys() | new.manifest.keys()
                      if key != "steps" and old.manifest.get(key) != new.manifest.get(key))
        return [Change(None, "changed", "manifest", "breaking",
                       f"manifest.yaml differs outside the steps compared ({', '.join(rest) or 'fingerprint only'})",
                       {k: old.manifest.get(k) for k in rest}, {k: new.manifest.get(k) for k in rest})]
    line = _first_difference(old.text, new.text)
    same_oml = _fp(old, "oml_fp") == _fp(new, "oml_fp")
    if line is None and same_oml:
        return []
    reason = ("formatting, comments or key order only: oml_fp and manifest_fp unchanged" if same_oml else
              "the OML data changed but compiles to the same manifest (steps listed in another order, "
              "a default written out): manifest_fp unchanged")
    at = (f"{old.label}:{line}:1", f"{new.label}:{line}:1") if line is not None else (None, None)
    return [Change(None, "changed", "text", "cosmetic", reason, None, None, *at)]


def _first_difference(old: str | None, new: str | None) -> int | None:
    """The first line (1-based) where two texts differ; None when equal or either is unknown."""
    if old is None or new is None or old == new:
        return None
    a, b = old.splitlines(), new.splitlines()
    first = next((n for n, (x, y) in enumerate(zip(a, b, strict=False), 1) if x != y), min(len(a), len(b)) + 1)
    return min(first, max(len(a), len(b), 1))


def _step_changes(step_id: str, before: dict[str, Any], after: dict[str, Any], old: Side, new: Side,
                  registry: Registry) -> list[Change]:
    found: list[Change] = []
    at = (old.cite(step_id, None), new.cite(step_id, None))
    for name in STEP_FIELDS_BREAKING + STEP_FIELDS_TUNING:
        if before.get(name) != after.get(name):
            severity: Severity = "non-breaking" if name in STEP_FIELDS_TUNING else "breaking"
            reason = _STEP_REASONS.get(name, f"`{name}` changed")
            if name == "needs" and before.get("inputs") == after.get("inputs"):
                reason = ("the step runs after other steps (same inputs): what it reads from outside, "
                          "e.g. a table another step writes, can differ")
            path = _OML_PATHS.get(name, name)
            where = (old.cite(step_id, path) or at[0], new.cite(step_id, path) or at[1])
            found.append(Change(step_id, "changed", name, severity, reason, before.get(name), after.get(name), *where))
    for name in sorted(before.keys() | after.keys()):
        if name not in _STEP_FIELDS_SEEN and before.get(name) != after.get(name):
            found.append(Change(step_id, "changed", name, "breaking",
                                f"`{name}` changed: a manifest field `omlc diff` does not classify",
                                before.get(name), after.get(name), *at))
    spec = registry.get(after["component"])
    dialects = spec.sql_dialects() if spec is not None else {}
    tuning = {key for key, prop in (spec.properties.items() if spec is not None else ())
              if isinstance(prop, dict) and prop.get("x-diff") == "tuning"}
    same_component = before["component"] == after["component"]
    old_cfg, new_cfg = old.cfgs.get(step_id, {}), new.cfgs.get(step_id, {})
    for key in sorted(old_cfg.keys() | new_cfg.keys()):
        a, b = old_cfg.get(key, _ABSENT), new_cfg.get(key, _ABSENT)
        if a == b:
            continue
        where = (old.cite(step_id, f"config/{key}") or at[0], new.cite(step_id, f"config/{key}") or at[1])
        shown = (None if a is _ABSENT else a, None if b is _ABSENT else b)
        if same_component and key in dialects and isinstance(a, str) and isinstance(b, str):
            if normalise_sql(a, dialects[key]) == normalise_sql(b, dialects[key]):
                found.append(Change(step_id, "changed", f"config.{key}", "cosmetic",
                                    "SQL reformatted: the same statement once reprinted", *shown, *where))
            else:
                found.append(Change(step_id, "changed", f"config.{key}", "breaking",
                                    "SQL changed: the rows or columns it produces can differ", *shown, *where))
        elif same_component and key in tuning:
            found.append(Change(step_id, "changed", f"config.{key}", "non-breaking",
                                "tuning: how the step runs, not what it reads or writes", *shown, *where))
        else:
            reason = _CONFIG_REASONS.get(key, "a config value the output can depend on")
            found.append(Change(step_id, "changed", f"config.{key}", "breaking", reason, *shown, *where))
    return found


_ABSENT = object()
_STEP_FIELDS_SEEN = frozenset((*STEP_FIELDS_BREAKING, *STEP_FIELDS_TUNING, "id", "family", "cfg_fp", "level"))
"""Compared above, or derived from what is (`family` from the component, `cfg_fp` from the cfg compared
key by key, `level` from `needs`); any other step field that differs is breaking."""
_OML_PATHS = {"connection": "config/connection", "kind": "component", "component_version": "component",
              "outputs": "component"}
"""Where in the OML step a manifest field comes from, when not under its own name."""
_STEP_REASONS = {
    "component": "another component reads or writes the data",
    "component_version": "the component's version changed",
    "kind": "the step's kind changed",
    "mode": "the step's mode changed",
    "connection": "another connection: another server, database or credentials",
    "needs": "the step reads from and runs after other steps",
    "inputs": "the step reads other inputs",
    "outputs": "the step produces other outputs",
    "retry": "retries: how often a transient failure is tried again",
    "partitions": "partitions: how a backend splits the work (same results)",
}
_CONFIG_REASONS = {
    "table": "another table is read or written",
    "write_mode": "the write mode decides what happens to existing rows",
    "path": "another file is read or written",
    "primary_key": "the key that upserts match rows on",
    "schema": "another schema",
    "columns": "other columns",
    "filter": "other rows",
    "limit": "another number of rows",
}


def normalise_sql(text: str, dialect: str) -> str:
    """`text` reprinted by sqlglot in `dialect` without comments: whitespace, comments, keyword
    case and redundant formatting disappear, meaning stays. SQL sqlglot cannot parse (or nests
    too deeply for it) is compared with its whitespace collapsed instead."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        statements = sqlglot.parse(text, read=dialect)
        return ";\n".join(s.sql(dialect=dialect, comments=False) for s in statements if s is not None)
    except (SqlglotError, RecursionError):  # deep nesting beats sqlglot's recursive parser and printer
        return " ".join(text.split())


def side_from_compile(label: str, result: Any) -> Side:  # noqa: ANN401 - a compiler.api.CompileResult that is ok
    """The side of an OML file that compiled: citations from its own spans (config keys included)."""
    compiled, pipeline = result.compiled, result.pipeline
    pointers = {step.id: step.pointer for step in pipeline.steps}

    def cite(step_id: str, path: str | None) -> str | None:
        pointer = pointers.get(step_id)
        if pointer is None:
            return None
        span = pipeline.span_of(pointer if path is None else f"{pointer}/{path}")
        return f"{label}:{span.line}:{span.column}"

    return Side(label, compiled.manifest_data, compiled.cfgs, compiled.meta, pipeline.text, cite)


def side_from_directory(label: str, manifest: Any, cfgs: dict[str, dict[str, Any]], meta: dict[str, Any],  # noqa: ANN401
                        sources: Any = None, oml: Any = None) -> Side:  # noqa: ANN401 - a verified Manifest, its SourceMap
    """The side of a compiled directory (verified by `load_manifest`). Its steps are cited through
    sourcemap.json; `oml`, the compile result of the OML file that map names, gives each config
    key's line too, but only when its `oml_fp` equals the directory's (the file was not edited since)."""
    source = side_from_compile(oml.file, oml) if oml is not None and oml.ok and oml.compiled is not None else None
    if source is not None and _fp(source, "oml_fp") != meta.get("fingerprints", {}).get("oml_fp"):
        source = None

    def cite(step_id: str, path: str | None) -> str | None:
        if source is not None:
            return source.cite(step_id, path)
        return sources.cite(step_id) if sources is not None else None

    return Side(label, manifest.to_data(), cfgs, meta, None, cite)
