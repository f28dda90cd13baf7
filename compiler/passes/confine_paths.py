"""Pass 4: every file path a step names stays inside the roots the operator granted.

Runs after `resolve_connections`, because a step's `@filesystem` connection decides what its
relative paths resolve against (`base_dir`). The rule itself lives in compiler/path_policy.py,
shared with manifest verification, the file drivers and `osiris chat`; the fields it applies
to are the ones the component specs mark `x-path`. The check is lexical: symbolic links are
the runtime's to resolve, when the files exist.
"""

from __future__ import annotations

import os

from compiler.connections import ConnectionsFile
from compiler.context import CompileContext
from compiler.path_policy import check_path, path_roots
from oml.ir import Pipeline
from oml.pointer import join

_UNKNOWN_BASE = os.sep + "\x00unresolved-base_dir"
"""Stands for a base_dir whose ${VAR} is unset at compile time: no real path can be inside it,
so relative paths are judged only by whether they climb out of it."""


def confine_paths(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    conns = ctx.connections
    roots = path_roots(ctx.project_root or os.getcwd(), conns.roots if conns is not None else ())
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
        base = _base_dir(step.connection_ref, conns, ctx)
        step_roots = roots if base is None else (*roots, base)
        ok = True
        for key, value in values:
            problem = check_path(value, step_roots, base)
            if problem is not None:
                pointer = join(step.pointer, "config", key)
                ctx.diagnostics.add(problem.code, pipeline.span_of(pointer), problem.message,
                                    help=problem.hint, pointer=pointer)
                ok = False
        steps.append(step if ok else step.model_copy(update={"valid": False}))
    return pipeline.replace_steps(steps)


def _base_dir(ref: str | None, conns: ConnectionsFile | None, ctx: CompileContext) -> str | None:
    """The absolute base_dir of a `@filesystem` reference, if it has one."""
    if not ref or conns is None or not ref.startswith("@filesystem."):
        return None
    alias = ref.removeprefix("@filesystem.")
    if conns.lookup("filesystem", alias) is None:
        return None
    resolved = conns.resolve("filesystem", alias, ctx.env)
    base_dir = resolved.fields.get("base_dir")
    if not isinstance(base_dir, str) or not base_dir:
        return None
    if resolved.missing_env:
        return _UNKNOWN_BASE
    return path_roots(ctx.project_root or os.getcwd(), base_dir=base_dir)[-1]
