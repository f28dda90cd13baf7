"""Pass 2: everything that can be wrong with a pipeline that parsed.

Components and modes, config against each component's schema and rules, inline secrets,
the `partitions:` keys each kind takes, unique ids, references, data inputs per kind, and
cycles. `omlc check` and `omlc compile` run this same pass, so they cannot disagree.
"""

from __future__ import annotations

from osiris.compiler.checks.config import apply_renames, check_config, check_mode, check_secrets_only
from osiris.compiler.checks.duckdb_access import check_duckdb_access
from osiris.compiler.checks.incremental import check_incremental
from osiris.compiler.checks.graph import (
    check_inputs_for_kind,
    check_unique_ids,
    data_inputs,
    find_cycles,
    report_cycles,
)
from osiris.compiler.checks.partitions import check_partition_keys
from osiris.compiler.context import CompileContext
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import DEFAULT_OUTPUT, Pipeline, Step
from osiris.oml.pointer import join
from osiris.oml.suggest import did_you_mean, one_of
from osiris.spec.registry import Registry


def validate(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    d = ctx.diagnostics
    first = check_unique_ids(pipeline, d)
    # Duplicates are checked too (all errors in one run) but stay out of the graph.
    steps: list[Step] = []
    for step in pipeline.steps:
        checked = _check_step(step, pipeline, ctx.registry, d)
        steps.append(checked if first[step.id] is step else checked.evolve(valid=False))
    by_id = {s.id: s for s in steps if first[s.id].index == s.index}
    depends: dict[str, set[str]] = {}
    linked: list[Step] = []
    previous: Step | None = None
    for step in steps:
        if by_id.get(step.id) is not step:
            linked.append(step)
            continue
        errors_before = d.error_count
        inputs, deps = data_inputs(step, by_id, d)
        # A step whose references are wrong is not also blamed for lacking inputs.
        ok = d.error_count == errors_before and check_inputs_for_kind(step, inputs, previous, d)
        depends[step.id] = deps
        linked.append(step.evolve(data_inputs=tuple(sorted(inputs, key=lambda i: i.name)),
                                  depends_on=tuple(sorted(deps)), valid=step.valid and ok))
        if step.outputs:
            previous = step
    report_cycles(find_cycles(depends), by_id, d)
    check_incremental(linked, pipeline, ctx.registry, d)
    return pipeline.replace_steps(linked)


def _check_step(step: Step, pipeline: Pipeline, registry: Registry, d: Diagnostics) -> Step:
    spec = registry.get(step.component)
    if spec is None:
        d.add("OML040", step.component_span, f"unknown component '{step.component}'",
              help=did_you_mean(step.component, registry.names())
              or f"components: {one_of(registry.canonical_names(), 20)}",
              pointer=join(step.pointer, "component"))
        check_secrets_only(step, pipeline, d)
        # Assume it produces data so downstream steps are not blamed for this mistake.
        return step.evolve(valid=False, outputs=(DEFAULT_OUTPUT,))
    mode = check_mode(step, spec, d)
    config = apply_renames(step, spec, pipeline, d)
    ok = check_config(step, spec, config, pipeline, d, registry)
    ok = check_duckdb_access(step, spec, config, pipeline, d) and ok
    ok = check_partition_keys(step, spec.kind, spec.name, pipeline, d) and ok
    return step.evolve(canonical_component=spec.name, component_version=spec.version, kind=spec.kind,
                       canonical_mode=mode, outputs=tuple(spec.outputs), config=config,
                       valid=step.valid and ok and mode is not None)
