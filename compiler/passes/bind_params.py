"""Pass 1: choose parameter values and substitute `${params.x}` into step configs.

A string that is exactly one reference takes the parameter's value with its type; a
reference inside a longer string is spliced in as text, or, in a SQL field, as a typed SQL
literal (compiler.sql_binding). Step references (`${step.df}`) belong in `inputs` only.
"""

from __future__ import annotations

from typing import Any, cast

from compiler.context import CompileContext
from compiler.params import bind_values
from compiler.sql_binding import Context, UnsafeValue, context_after, sql_literal
from oml.expr.nodes import Reference, Text
from oml.ir import ConfigExpr, Pipeline, Step
from oml.suggest import did_you_mean, one_of


def bind_params(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    bound = bind_values(pipeline, ctx.cli_params, ctx.env, ctx.profile, ctx.diagnostics)
    values = {name: b.value for name, b in bound.items()}
    declared = {p.name for p in pipeline.params}
    steps = [_bind_step(step, values, declared, ctx) for step in pipeline.steps]
    return pipeline.model_copy(update={"steps": tuple(steps), "bound_params": bound,
                                       "profile": ctx.profile})


def _bind_step(step: Step, values: dict[str, Any], declared: set[str], ctx: CompileContext) -> Step:
    if not step.exprs:
        return step
    spec = ctx.registry.get(step.component)
    dialects = spec.sql_dialects() if spec is not None else {}
    config = _deep_copy(step.config)
    unbound: list[str] = []
    for expr in step.exprs:
        dialect = dialects.get(str(expr.path[0])) if expr.path else None
        result = _render(expr, values, declared, dialect, ctx)
        if result is _FAILED:
            unbound.append(expr.pointer)
            continue
        _assign(config, expr.path, result)
    return step.model_copy(update={"config": config, "valid": step.valid and not unbound,
                                   "unbound": tuple(unbound)})


_FAILED = object()


def _render(expr: ConfigExpr, values: dict[str, Any], declared: set[str], dialect: str | None,
            ctx: CompileContext) -> Any:
    d = ctx.diagnostics
    for ref in expr.references:
        if not ref.is_param:
            d.add("OML052", ref.span, f"`{ref.text}` refers to a step output inside `config`",
                  help="pass data with `inputs: {name: \"" + ref.text + "\"}` or `needs:`; "
                       "write `$${` for a literal `${`", pointer=expr.pointer)
            return _FAILED
        if len(ref.parts) != 2 or ref.parts[1] not in declared:
            name = ".".join(ref.parts[1:])
            d.add("OML051", ref.span, f"unknown parameter '{name}'",
                  help=did_you_mean(name, declared) or (f"declared: {one_of(declared)}" if declared
                                                        else "declare it under `params:`"),
                  pointer=expr.pointer)
            return _FAILED
        if ref.parts[1] not in values:
            return _FAILED  # reported by bind_values (no value, or an invalid one)
    if expr.is_single_reference and dialect is None:
        return values[cast(Reference, expr.pieces[0]).parts[1]]
    out: list[str] = []
    context: Context = "code"  # lexed piece by piece: a literal never changes the context
    for piece in expr.pieces:
        if isinstance(piece, Text):
            out.append(piece.value)
            if dialect is not None:
                context = context_after(piece.value, context)
            continue
        value = values[piece.parts[1]]
        if dialect is None:
            out.append(_text(value))
            continue
        try:
            out.append(sql_literal(value, context, "mysql" if dialect == "mysql" else "ansi"))
        except UnsafeValue as problem:
            d.add("OML066", piece.span, f"cannot bind `{piece.text}` into SQL: {problem}",
                  help="put the reference where a value goes (not in an identifier or a comment); "
                       "string values are quoted for you, so write `= ${params.x}`, not `= '${params.x}'` "
                       "(both work)", pointer=expr.pointer)
            return _FAILED
    return "".join(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _assign(config: Any, path: tuple[str | int, ...], value: Any) -> None:
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
