"""Turn a manifest into Ray stages: which steps run per partition, per bucket, or once.

Every step gets a *shape*:

- ``source``: an extractor, one task per partition its driver plans (one when it cannot split);
- ``local``: a row-wise transform on one input, run on each of that input's partitions;
- ``hash``: a transform whose SQL combines rows by key: every input is split into buckets by a
  hash of the key, then one task per bucket;
- ``single``: one task sees every partition of every input (ORDER BY, global aggregates, writers
  of one file, drivers the backend knows nothing about);
- ``staged``: a database writer that loads each partition into its own staging table; the
  coordinator publishes them in one transaction.

A *stage* is a maximal chain of steps that run partition by partition in one task: a source or
any step, followed by ``local``/``staged`` steps, each the only consumer of the step before it.
Data inside a stage never leaves the task; between stages it moves through Ray's object store.

Nothing here imports Ray: the plan is computed (and tested) from the manifest, the compiled
configs and what each driver can do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from osiris.compiler.manifest_records import Manifest, ManifestStep

__all__ = ["SQL_COMPONENT", "Capabilities", "Plan", "Stage", "StepShape", "plan_stages", "sql_names"]

Shape = Literal["source", "local", "hash", "single", "staged"]

SQL_COMPONENT = "duckdb.processor"
"""The transform whose SQL the backend classifies; any other transform runs as one task."""


@dataclass(frozen=True)
class Capabilities:
    """What a component's driver offers a distributed run."""

    partitioned_extract: bool = False
    staged_write: bool = False


@dataclass(frozen=True)
class StepShape:
    step_id: str
    shape: Shape
    reason: str
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For ``hash``: input name -> its key columns."""


@dataclass
class Stage:
    """Steps run one after the other inside one task per partition (a chain)."""

    steps: list[str]
    shape: Shape
    """The first step's shape: how the stage's tasks get their input."""


@dataclass
class Plan:
    shapes: dict[str, StepShape]
    stages: list[Stage]
    """In manifest order of their first step: every input of a stage comes from an earlier one."""

    def stage_of(self, step_id: str) -> Stage:
        for stage in self.stages:
            if step_id in stage.steps:
                return stage
        raise KeyError(step_id)

    def describe(self) -> list[dict[str, Any]]:
        """The plan as plain data (the `ray_plan` event, docs)."""
        return [
            {
                "steps": list(stage.steps),
                "shape": stage.shape,
                "reasons": {s: self.shapes[s].reason for s in stage.steps},
            }
            for stage in self.stages
        ]


Classifier = Callable[[str, Sequence[str], str | None, Sequence[str] | None], Any]
"""(sql, input names, scope override, by override) -> an object with kind, keys, reason."""


def sql_names(inputs: Sequence[str]) -> dict[str, str]:
    """Every name the SQL may use for an input -> the input (the DuckDB processor's rule:
    the input name, `df_<name>` with non-identifier characters as `_`, `input_df` for a single input)."""
    names: dict[str, str] = {name: name for name in inputs}
    for name in inputs:
        names.setdefault("df_" + re.sub(r"[^A-Za-z0-9_]", "_", name), name)
    if len(inputs) == 1:
        names.setdefault("input_df", inputs[0])
    return names


def plan_stages(
    manifest: Manifest,
    cfgs: Mapping[str, Mapping[str, Any]],
    capabilities: Callable[[str], Capabilities],
    classify: Classifier,
) -> Plan:
    """Shapes for every step, then stages: chains fused where data can stay inside a task."""
    shapes = {sid: _shape(manifest.step(sid), cfgs.get(sid, {}), capabilities, classify) for sid in manifest.order}
    consumers: dict[str, list[str]] = {sid: [] for sid in manifest.order}
    for edge in manifest.edges:
        consumers[edge.from_].append(edge.to)
    stage_of: dict[str, Stage] = {}
    stages: list[Stage] = []
    for sid in manifest.order:
        step = manifest.step(sid)
        shape = shapes[sid]
        upstream = _single_upstream(manifest, step)
        if (
            shape.shape in ("local", "staged")
            and upstream is not None
            and consumers[upstream] == [sid]
            and not _waits_on_others(step, upstream)
            and shapes[upstream].shape != "staged"
        ):
            stage = stage_of[upstream]
            stage.steps.append(sid)
            stage_of[sid] = stage
            continue
        stage = Stage([sid], shape.shape)
        stages.append(stage)
        stage_of[sid] = stage
    return Plan(shapes, stages)


def _single_upstream(manifest: Manifest, step: ManifestStep) -> str | None:
    producers = {source.step for source in step.inputs.values()}
    return next(iter(producers)) if len(producers) == 1 and len(step.inputs) == 1 else None


def _waits_on_others(step: ManifestStep, upstream: str) -> bool:
    """A step that also waits (`needs`) for a step other than its data source cannot join that
    source's stage: the other step must finish first, outside the task."""
    return any(need != upstream for need in step.needs)


def _shape(
    step: ManifestStep,
    cfg: Mapping[str, Any],
    capabilities: Callable[[str], Capabilities],
    classify: Classifier,
) -> StepShape:
    hints = getattr(step, "partitions", None)
    can = capabilities(step.component)
    if step.kind == "extractor":
        if can.partitioned_extract:
            return StepShape(step.id, "source", "split by the driver")
        return StepShape(step.id, "source", f"{step.component} reads its source in one task")
    if step.kind == "writer":
        if can.staged_write:
            return StepShape(step.id, "staged", "each partition staged, published in one transaction")
        return StepShape(step.id, "single", f"{step.component} writes one target from one task")
    inputs = list(step.inputs)
    if step.component != SQL_COMPONENT or not isinstance(cfg.get("query"), str):
        return StepShape(step.id, "single", f"{step.component} is not SQL the backend can classify")
    scope_override = getattr(hints, "scope", None) if hints is not None else None
    by_override = getattr(hints, "by", None) if hints is not None else None
    names = sql_names(inputs)
    result = classify(str(cfg["query"]), list(names), scope_override, by_override)
    kind = result.kind
    if kind == "local" and len(inputs) != 1:
        return StepShape(step.id, "single", "runs on several inputs")
    if kind == "hash":
        keys: dict[str, tuple[str, ...]] = {}
        for name, columns in result.keys.items():
            input_name = names.get(name, name)
            if keys.setdefault(input_name, tuple(columns)) != tuple(columns):
                # one input under two names (`t` and `input_df`) joined on different columns
                return StepShape(step.id, "single", f"{input_name} is read under two names with different keys")
        if set(keys) != set(inputs) or len({len(k) for k in keys.values()}) != 1:
            return StepShape(step.id, "single", f"no hash key for every input ({result.reason})")
        return StepShape(step.id, "hash", result.reason, keys)
    return StepShape(step.id, kind, result.reason)
