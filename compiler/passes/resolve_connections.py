"""Pass 3: check every connection reference against osiris_connections.yaml.

The manifest carries the reference (`@mysql.shop`), never the alias's fields: secrets are
resolved only at run time. A step that omits `connection` gets its family's default alias.
A step may replace an alias field (`host:`, `database:` ...) only when the connections file
allows it (`compiler.connections.overridable`, OML077): a credential goes only to the host
written next to it. Without a connections file nothing can be checked; one warning says so.
"""

from __future__ import annotations

from osiris.compiler.connections import AliasDecl, overridable
from osiris.compiler.context import CompileContext
from osiris.oml.ir import Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.pointer import join
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean, one_of


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
                step = step.evolve(valid=False)
            steps.append(step)
            continue
        ref = step.connection
        pointer = join(step.pointer, "config", "connection")
        if ref is not None and spec.family is not None and not spec.takes_family(ref.family):
            d.add("OML075", ref.span, f"{spec.name} needs a `{spec.family}` connection, not `{ref.text}`",
                  help=f"use `@{spec.family}.<alias>`", pointer=pointer)
            steps.append(step.evolve(valid=False))
            continue
        if conns is None:
            if not warned and (ref is not None or spec.connection == "required"):
                warned = True
                _warn_no_file(ctx, pipeline.file)
            steps.append(step.evolve(connection_ref=ref.text if ref else None))
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
                    step = step.evolve(valid=False)
                steps.append(step)
                continue
            step = _check_overrides(step, conns.aliases[family][alias], pipeline, ctx)
            steps.append(step.evolve(connection_ref=f"@{family}.{alias}"))
            continue
        if ref.family not in conns.aliases:
            d.add("OML071", ref.span, f"connection family '{ref.family}' is not defined in {conns.path}",
                  help=did_you_mean(ref.family, conns.aliases) or f"defined families: {one_of(conns.aliases)}",
                  pointer=pointer)
            steps.append(step.evolve(valid=False))
            continue
        decl = conns.lookup(ref.family, ref.alias)
        if decl is None:
            aliases = conns.aliases[ref.family]
            d.add("OML072", ref.span, f"no alias '{ref.alias}' under `{ref.family}` in {conns.path}",
                  help=did_you_mean(ref.alias, aliases) or f"`{ref.family}` aliases: {one_of(aliases)}",
                  pointer=pointer)
            steps.append(step.evolve(valid=False))
            continue
        missing = sorted({r.name for refs in decl.env_refs.values() for r in refs
                          if r.default is None and r.name not in ctx.env})
        if missing and ref.text not in env_warned:
            env_warned.add(ref.text)
            d.add("OML076", ref.span, f"`{ref.text}` uses unset environment variable(s) {', '.join(missing)}",
                  help="set them before `osiris run`, or give a default with `${VAR:-value}`", pointer=pointer)
        step = _check_overrides(step, decl, pipeline, ctx)
        steps.append(step.evolve(connection_ref=ref.text))
    return pipeline.replace_steps(steps)


def _check_overrides(step: Step, decl: AliasDecl, pipeline: Pipeline, ctx: CompileContext) -> Step:
    """OML077 for each config key that replaces a field of the alias without the alias's leave."""
    family = ctx.registry.family(decl.family)
    if family is None:
        return step
    may = overridable(family, decl)
    ref = f"@{decl.family}.{decl.alias}"
    where = ctx.connections.path if ctx.connections is not None else "osiris_connections.yaml"
    refused = False
    for key, value in step.config.items():
        spec = family.fields.get(key)
        if spec is None or spec.secret or key in may or value in (None, ""):
            continue  # not an alias field, a secret (OML080 reports it), or allowed
        pointer = join(step.pointer, "config", key)
        hint = (f"remove `{key}` and use an alias written for that target; or, if {ref}'s credentials may "
                f"be used there, add `allow_override: [{key}]` to {ref} in {where}"
                if spec.override == "grant" else f"remove `{key}`: a step cannot set it")
        ctx.diagnostics.add("OML077", pipeline.spans.get(KEY_PREFIX + pointer) or pipeline.span_of(pointer),
                            f"step '{step.id}' overrides `{key}` of {ref}, which its connection does not allow",
                            help=hint, pointer=pointer)
        refused = True
    return step.evolve(valid=False) if refused else step


def _warn_no_file(ctx: CompileContext, file: str) -> None:
    ctx.diagnostics.add(
        "OML070", Span.whole_file(file),
        "no osiris_connections.yaml found: connection references were not checked",
        help="pass --connections FILE, or run where osiris_connections.yaml is",
    )
