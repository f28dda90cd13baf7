"""Pass 4: every file path a step names stays inside the roots the operator granted.

Runs after `resolve_connections`, because a step's `@filesystem` connection decides what its
relative paths resolve against (`base_dir`). The rule itself lives in compiler/path_policy.py,
shared with manifest verification, the file drivers and `osiris chat`; the fields it applies
to are the ones the component specs mark `x-path`. The check is lexical: symbolic links are
the runtime's to resolve, when the files exist.
"""

from __future__ import annotations

import os

from compiler.context import CompileContext
from compiler.path_policy import check_path, step_roots
from oml.ir import Pipeline
from oml.pointer import join


def confine_paths(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    root = ctx.project_root or os.getcwd()
    fields_of: dict[str, dict[str, str]] = {}
    steps = []
    for step in pipeline.steps:
        name = step.canonical_component
        if name is None:
            steps.append(step)
            continue
        fields = fields_of.get(name)
        if fields is None:
            spec = ctx.registry.get(name)
            fields = fields_of[name] = spec.path_fields() if spec is not None else {}
        values = [(key, value) for key in fields if isinstance(value := step.config.get(key), str)]
        if not values:
            steps.append(step)
            continue
        roots, base = step_roots(root, ctx.connections, step.connection_ref, ctx.env)
        ok = True
        for key, value in values:
            problem = check_path(value, roots, base)
            if problem is not None:
                pointer = join(step.pointer, "config", key)
                ctx.diagnostics.add(problem.code, pipeline.span_of(pointer), problem.message,
                                    help=problem.hint, pointer=pointer)
                ok = False
        steps.append(step if ok else step.model_copy(update={"valid": False}))
    return pipeline.replace_steps(steps)
