"""Pass 3: check every connection reference against osiris_connections.yaml.

The manifest carries the reference (`@mysql.shop`), never the alias's fields: secrets are
resolved only at run time. A step that omits `connection` gets its family's default alias.
Without a connections file nothing can be checked; one warning says so.
"""

from __future__ import annotations

from compiler.context import CompileContext
from oml.ir import Pipeline, Step
from oml.pointer import join
from oml.span import Span
from oml.suggest import did_you_mean, one_of


def resolve_connections(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    d = ctx.diagnostics
    conns = ctx.connections
    steps: list[Step] = []
    warned = False
    env_warned: set[str] = set()
    for step in pipeline.steps:
        spec = ctx.registry.get(step.component) if step.canonical_component else None
        if spec is None or spec.connection == "none":
            if step.connection is not None and spec is not None:
                d.add("OML042", step.connection.span, f"{spec.name} takes no connection",
                      help="remove `connection`", pointer=join(step.pointer, "config", "connection"))
                step = step.model_copy(update={"valid": False})
            steps.append(step)
            continue
        ref = step.connection
        pointer = join(step.pointer, "config", "connection")
        if ref is not None and spec.family is not None and ref.family != spec.family:
            d.add("OML075", ref.span, f"{spec.name} needs a `{spec.family}` connection, not `{ref.text}`",
                  help=f"use `@{spec.family}.<alias>`", pointer=pointer)
            steps.append(step.model_copy(update={"valid": False}))
            continue
        if conns is None:
            if not warned and (ref is not None or spec.connection == "required"):
                warned = True
                _warn_no_file(ctx, pipeline.file)
            steps.append(step.model_copy(update={"connection_ref": ref.text if ref else None}))
            continue
        family = spec.family or ""
        if ref is None:
            alias = conns.default_alias(family)
            if alias is None:
                if spec.connection == "required":
                    known = sorted(conns.aliases.get(family, {}))
                    d.add("OML073", step.id_span,
                          f"step '{step.id}' has no `connection` and `{family}` has no default alias",
                          help=(f"add `connection: \"@{family}.{known[0]}\"` or mark an alias `default: true`"
                                if known else f"define a `{family}` alias in {conns.path}"),
                          pointer=pointer)
                    step = step.model_copy(update={"valid": False})
                steps.append(step)
                continue
            steps.append(step.model_copy(update={"connection_ref": f"@{family}.{alias}"}))
            continue
        if ref.family not in conns.aliases:
            d.add("OML071", ref.span, f"connection family '{ref.family}' is not defined in {conns.path}",
                  help=did_you_mean(ref.family, conns.aliases) or f"defined families: {one_of(conns.aliases)}",
                  pointer=pointer)
            steps.append(step.model_copy(update={"valid": False}))
            continue
        decl = conns.lookup(ref.family, ref.alias)
        if decl is None:
            aliases = conns.aliases[ref.family]
            d.add("OML072", ref.span, f"no alias '{ref.alias}' under `{ref.family}` in {conns.path}",
                  help=did_you_mean(ref.alias, aliases) or f"`{ref.family}` aliases: {one_of(aliases)}",
                  pointer=pointer)
            steps.append(step.model_copy(update={"valid": False}))
            continue
        missing = sorted({r.name for refs in decl.env_refs.values() for r in refs
                          if r.default is None and r.name not in ctx.env})
        if missing and ref.text not in env_warned:
            env_warned.add(ref.text)
            d.add("OML076", ref.span, f"`{ref.text}` uses unset environment variable(s) {', '.join(missing)}",
                  help="set them before `osiris run`, or give a default with `${VAR:-value}`", pointer=pointer)
        steps.append(step.model_copy(update={"connection_ref": ref.text}))
    return pipeline.replace_steps(steps)


def _warn_no_file(ctx: CompileContext, file: str) -> None:
    ctx.diagnostics.add(
        "OML070", Span.whole_file(file),
        "no osiris_connections.yaml found: connection references were not checked",
        help="pass --connections FILE, or run where osiris_connections.yaml is",
    )
