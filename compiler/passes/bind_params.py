"""Pass 1: choose parameter values and substitute `${params.x}` into step configs.

A string that is exactly one reference takes the parameter's value with its type; a
reference inside a longer string is spliced in as text, or, in a SQL field, as a typed SQL
literal (compiler.sql_binding). Step references (`${step.df}`) belong in `inputs` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osiris.compiler.context import CompileContext
from osiris.compiler.params import bind_values
from osiris.compiler.sql_binding import BindRefused, Slot, bind_sql
from osiris.compiler.sql_literals import Dialect
from osiris.oml.expr.nodes import Text
from osiris.oml.ir import ConfigExpr, Pipeline, Step
from osiris.oml.suggest import did_you_mean, one_of


def bind_params(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    bound = bind_values(pipeline, ctx.cli_params, ctx.env, ctx.profile, ctx.diagnostics)
    values = {name: b.value for name, b in bound.items()}
    kinds = {p.name: p.type for p in pipeline.params}
    steps = [_bind_step(step, values, kinds, ctx) for step in pipeline.steps]
    return pipeline.evolve(steps=tuple(steps), bound_params=bound, profile=ctx.profile)


def _bind_step(step: Step, values: dict[str, Any], kinds: Mapping[str, str], ctx: CompileContext) -> Step:
    if not step.exprs:
        return step
    spec = ctx.registry.get(step.component)
    dialects = spec.sql_dialects() if spec is not None else {}
    config = _deep_copy(step.config)
    unbound: list[str] = []
    for expr in step.exprs:
        dialect = dialects.get(str(expr.path[0]))
        result = _render(expr, values, kinds, dialect, ctx)
        if result is _FAILED:
            unbound.append(expr.pointer)
            continue
        _assign(config, expr.path, result)
    return step.evolve(config=config, valid=step.valid and not unbound, unbound=tuple(unbound))


_FAILED = object()
_DIALECT_NAMES = {"mysql": "MySQL/MariaDB", "postgres": "PostgreSQL", "duckdb": "DuckDB"}


def _render(expr: ConfigExpr, values: dict[str, Any], kinds: Mapping[str, str], dialect: Dialect | None,
            ctx: CompileContext) -> Any:
    d = ctx.diagnostics
    for ref in expr.references:
        if not ref.is_param:
            d.add("OML052", ref.span, f"`{ref.text}` refers to a step output inside `config`",
                  help="pass data with `inputs: {name: \"" + ref.text + "\"}` or `needs:`; "
                       "write `$${` for a literal `${`", pointer=expr.pointer)
            return _FAILED
        if len(ref.parts) != 2 or ref.parts[1] not in kinds:
            name = ".".join(ref.parts[1:])
            d.add("OML051", ref.span, f"unknown parameter '{name}'",
                  help=did_you_mean(name, kinds) or (f"declared: {one_of(kinds)}" if kinds
                                                        else "declare it under `params:`"),
                  pointer=expr.pointer)
            return _FAILED
        if ref.parts[1] not in values:
            return _FAILED  # reported by bind_values (no value, or an invalid one)
    if dialect is None:
        if expr.is_single_reference:
            return values[expr.references[0].parts[1]]
        return "".join(p.value if isinstance(p, Text) else _text(values[p.parts[1]]) for p in expr.pieces)
    texts, refs = [""], []
    for piece in expr.pieces:
        if isinstance(piece, Text):
            texts[-1] += piece.value
        else:
            refs.append(piece)
            texts.append("")
    if not refs:  # only escaped text (`$${x}` is the text `${x}`): nothing is bound, the SQL is as written
        return texts[0]
    slots = [Slot(values[r.parts[1]], kinds[r.parts[1]]) for r in refs]
    try:
        return bind_sql(texts, slots, dialect, [r.text for r in refs])
    except BindRefused as refused:
        ref = refs[refused.slot]
        if refused.code == "OML067":
            d.add("OML067", ref.span, f"cannot bind `{ref.text}` into this {_DIALECT_NAMES[dialect]} SQL: {refused}",
                  help="write that part so it reads the same to every lexer: plain '...' strings, `-- ` and "
                       "/* */ comments, no executable comments or optimizer hints (`omlc explain OML067`)",
                  pointer=expr.pointer)
        else:
            d.add("OML066", ref.span, f"cannot bind `{ref.text}` into SQL: {refused}",
                  help="put the reference where a value goes, apart from the words around it "
                       "(`WHERE a = ${params.x}`), or inside a plain '...' string; a name needs a "
                       "parameter of `type: identifier`", pointer=expr.pointer)
        return _FAILED


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
