"""Check the step graph: unique ids, references, data inputs per kind, and cycles.

Data inputs are assembled here, once, for the planner and the manifest: explicit `inputs`
first, then every `needs` entry that produces data and does not already feed an input. A
`needs` entry naming a writer is an ordering edge only. No step depends on the step written
before it unless the OML says so.
"""

from __future__ import annotations

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import DEFAULT_OUTPUT, InputRef, Pipeline, Step
from osiris.oml.pointer import join
from osiris.oml.suggest import did_you_mean, one_of


def check_unique_ids(pipeline: Pipeline, d: Diagnostics) -> dict[str, Step]:
    """Map id -> first step with it; later duplicates are OML031 and marked invalid."""
    first: dict[str, Step] = {}
    for step in pipeline.steps:
        if step.id in first:
            original = first[step.id]
            d.add("OML031", step.id_span, f"step '{step.id}' is defined twice",
                  help=f"first defined at line {original.id_span.line}; rename one of them",
                  pointer=join(step.pointer, "id"))
        else:
            first[step.id] = step
    return first


def data_inputs(step: Step, by_id: dict[str, Step], d: Diagnostics) -> tuple[list[InputRef], set[str]]:
    """The step's data inputs and the ids of all steps it depends on (data and ordering)."""
    inputs: list[InputRef] = []
    depends: set[str] = set()
    fed_by: set[str] = set()
    for ref in step.inputs:
        source = _resolve(step, ref.step, ref.span, ref.pointer, by_id, d)
        if source is None:
            continue
        depends.add(source.id)
        if source.kind is not None and ref.output not in source.outputs:
            if source.outputs:
                hint = did_you_mean(ref.output, source.outputs) or f"{source.id} produces {one_of(source.outputs)}"
            else:
                hint = f"'{source.id}' is a writer; name it in `needs:` to run after it"
            d.add("OML037", ref.span, f"step '{source.id}' has no output '{ref.output}'", help=hint,
                  pointer=ref.pointer)
            continue
        inputs.append(ref)
        fed_by.add(source.id)
    for need in step.needs:
        source = _resolve(step, need.step, need.span, need.pointer, by_id, d)
        if source is None:
            continue
        depends.add(source.id)
        if source.id in fed_by or not source.outputs:
            continue
        inputs.append(InputRef(span=need.span, pointer=need.pointer, name=source.id, step=source.id,
                               output=source.outputs[0] if source.outputs else DEFAULT_OUTPUT))
        fed_by.add(source.id)
    return inputs, depends


def _resolve(step: Step, target: str, span, pointer: str, by_id: dict[str, Step],  # noqa: ANN001
             d: Diagnostics) -> Step | None:
    if target == step.id:
        d.add("OML039", span, f"step '{step.id}' depends on itself", help="remove the reference",
              pointer=pointer)
        return None
    source = by_id.get(target)
    if source is None:
        others = [s for s in by_id if s != step.id]
        d.add("OML032", span, f"step '{step.id}' refers to unknown step '{target}'",
              help=did_you_mean(target, others) or f"steps: {one_of(others)}", pointer=pointer)
    return source


def check_inputs_for_kind(step: Step, inputs: list[InputRef], previous: Step | None, d: Diagnostics) -> bool:
    if step.kind is None:
        return True
    if step.kind == "extractor" and step.inputs:
        d.add("OML038", step.inputs[0].span, f"extractor '{step.id}' cannot take data inputs",
              help="remove `inputs:`; use `needs:` for ordering only", pointer=join(step.pointer, "inputs"))
        return False
    if step.kind in ("writer", "transform") and not inputs and not step.declares_inputs:
        example = previous.id if previous is not None else "<step>"
        d.add("OML034", step.id_span, f"{step.kind} '{step.id}' has no input",
              help=f"add `needs: [{example}]` (steps no longer depend on the step before them implicitly)",
              pointer=join(step.pointer, "needs"))
        return False
    if step.kind == "writer" and len(inputs) > 1:
        names = ", ".join(sorted(i.step for i in inputs))
        d.add("OML035", inputs[1].span, f"writer '{step.id}' has {len(inputs)} data inputs ({names})",
              help="a writer writes one stream: join or union them in a duckdb.processor step first",
              pointer=inputs[1].pointer)
        return False
    return True


def find_cycles(depends: dict[str, set[str]]) -> list[list[str]]:
    """Cycles in the dependency graph, each starting at its smallest id (iterative: 10k-step
    chains must not hit Python's recursion limit)."""
    remaining = set(depends)
    indegree = {n: len(depends[n] & remaining) for n in remaining}
    dependents: dict[str, list[str]] = {n: [] for n in remaining}
    for node, deps in depends.items():
        for dep in deps:
            if dep in dependents:
                dependents[dep].append(node)
    ready = [n for n, k in indegree.items() if k == 0]
    while ready:
        node = ready.pop()
        remaining.discard(node)
        for nxt in dependents[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    cycles: list[list[str]] = []
    while remaining:
        node = min(remaining)
        path: list[str] = []
        seen: dict[str, int] = {}
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            candidates = sorted(depends[node] & remaining)
            if not candidates:
                break
            node = candidates[0]
        else:
            cycle = path[seen[node]:]
            start = cycle.index(min(cycle))
            cycles.append(cycle[start:] + cycle[:start])
        remaining -= set(path)
    return sorted(cycles)


def report_cycles(cycles: list[list[str]], by_id: dict[str, Step], d: Diagnostics) -> None:
    for cycle in cycles:
        # The path reads in execution order: each step runs after the one before it.
        path = " -> ".join(reversed([*cycle, cycle[0]]))
        step = by_id[cycle[0]]
        d.add("OML033", step.id_span, f"dependency cycle: {path}",
              help="remove one `needs`/`inputs` reference on this path", pointer=join(step.pointer, "needs"))
