"""Pass 5: a deterministic execution plan.

Kahn's algorithm with a lexical tie-break (a heap of ids) gives the order; a step's level
is one more than the highest level among its dependencies, so steps of one level are
independent and may run concurrently. The same graph always gives the same plan.
"""

from __future__ import annotations

import heapq

from osiris.compiler.context import CompileContext
from osiris.oml.ir import Edge, Pipeline, Plan


def plan(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    if ctx.diagnostics.has_errors:
        return pipeline  # a plan over an invalid graph would be meaningless
    order, levels = schedule({s.id: set(s.depends_on) for s in pipeline.steps})
    edges = sorted(
        (Edge(from_=i.step, output=i.output, to=s.id, input=i.name)
         for s in pipeline.steps for i in s.data_inputs),
        key=lambda e: (e.to, e.input),
    )
    result = Plan(order=tuple(order), levels=tuple(tuple(lv) for lv in levels),
                                  edges=tuple(edges))
    return pipeline.evolve(plan=result)


def schedule(depends: dict[str, set[str]]) -> tuple[list[str], list[list[str]]]:
    """(order, levels) of an acyclic graph given as step id -> the ids it depends on; each
    level sorted. Manifest verification recomputes a loaded manifest's plan with it."""
    dependents: dict[str, list[str]] = {n: [] for n in depends}
    for node, deps in depends.items():
        for dep in deps:
            dependents[dep].append(node)
    indegree = {n: len(deps) for n, deps in depends.items()}
    heap = [n for n, k in indegree.items() if k == 0]
    heapq.heapify(heap)
    order: list[str] = []
    level: dict[str, int] = {}
    while heap:
        node = heapq.heappop(heap)
        order.append(node)
        level[node] = 1 + max((level[d] for d in depends[node]), default=-1)
        for nxt in dependents[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(heap, nxt)
    levels: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in order:
        levels[level[node]].append(node)
    return order, [sorted(lv) for lv in levels]
