"""Pass 4: every file path a step names stays inside the roots the operator granted.

Runs after `resolve_connections`, because a step's `@filesystem` connection decides what its
relative paths resolve against (`base_dir`). The rule itself lives in compiler/path_policy.py,
shared with manifest verification, the file drivers and `osiris chat`; the fields it applies
to are the ones the component specs mark `x-path`. The check is lexical: symbolic links are
the runtime's to resolve, when the files exist.
"""

from __future__ import annotations

import os

from osiris.compiler.context import CompileContext
from osiris.compiler.path_policy import path_roots, protected_files, step_path_problem, step_roots
from osiris.oml.ir import Pipeline
from osiris.oml.pointer import join


def confine_paths(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    root = ctx.project_root or os.getcwd()
    roots = path_roots(root, ctx.connections.roots if ctx.connections is not None else ())
    protected = protected_files(root, ctx.connections)
    fields_of: dict[str, dict[str, str]] = {}
    refused: set[int] = set()
    for step in pipeline.steps:
        name = step.canonical_component
        if name is None:
            continue
        fields = fields_of.get(name)
        if fields is None:
            spec = ctx.registry.get(name)
            fields = fields_of[name] = spec.path_fields() if spec is not None else {}
        for key in fields:
            value = step.config.get(key)
            if not isinstance(value, str):
                continue
            ref = step.connection_ref
            step_roots_, base = (step_roots(root, ctx.connections, ref, ctx.env)
                                 if ref and ref.startswith("@filesystem.") else (roots, None))
            problem = step_path_problem(value, ref, step_roots_, base, protected)
            if problem is not None:
                pointer = join(step.pointer, "config", key)
                ctx.diagnostics.add(problem.code, pipeline.span_of(pointer), problem.message,
                                    help=problem.hint, pointer=pointer)
                refused.add(step.index)
    if not refused:
        return pipeline
    return pipeline.replace_steps([step.evolve(valid=False) if step.index in refused else step
                                   for step in pipeline.steps])
