"""Pass 6: the artifact files, as bytes in memory.

Writing them is the CLI's job (compiler.writer, atomically), so `omlc check` can run this
pass too and accept exactly what `omlc compile` would write. No timestamps, no absolute
paths, canonical key order: the same inputs give the same bytes on any machine.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from osiris.compiler import __version__
from osiris.compiler.compiled import MANIFEST_VERSION, Compiled
from osiris.compiler.context import CompileContext
from osiris.compiler.yaml_emit import dump_yaml
from osiris.oml.canonical import canonical_json, fingerprint, pretty_json, sha256_hex
from osiris.oml.ir import Pipeline, Step
from osiris.oml.pointer import join
from osiris.oml.records import record_fields
from osiris.spec.models import ComponentSpec

Artifacts = dict[str, bytes]


def compiler_fingerprint() -> str:
    return fingerprint({"manifest_version": MANIFEST_VERSION, "name": "omlc", "version": __version__})


def oml_fingerprint(pipeline: Pipeline) -> str:
    """The OML's data only: comments, key order, quoting and whitespace do not count."""
    # NaN is allowed here (YAML can say `.nan`); the cfg files reject it separately.
    text = json.dumps(pipeline.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text.encode("utf-8"))


def emit(pipeline: Pipeline, ctx: CompileContext) -> tuple[Pipeline, Artifacts, Compiled | None]:
    """The artifact bytes and the same pipeline as a `Compiled` object (None after an error)."""
    if ctx.diagnostics.has_errors or pipeline.plan is None:
        return pipeline, {}, None
    specs: dict[str, ComponentSpec] = {}
    cfgs: dict[str, dict[str, Any]] = {}
    cfg_fps: dict[str, str] = {}
    for step in pipeline.steps:
        spec = ctx.registry.get(step.component)
        assert spec is not None and step.canonical_component is not None
        specs[spec.name] = spec
        cfg = _cfg(step, spec)
        try:  # serialised once: the fingerprint's input, and what cfg.json holds
            canonical = canonical_json(cfg)  # raises on NaN and infinity
        except ValueError:
            ctx.diagnostics.add("OML044", pipeline.span_of(join(step.pointer, "config")),
                                f"step '{step.id}': NaN and infinity cannot appear in a config",
                                pointer=join(step.pointer, "config"))
            continue
        cfgs[step.id] = json.loads(canonical)  # exactly what the file says (a YAML int key becomes "1")
        cfg_fps[step.id] = sha256_hex(canonical)
    if ctx.diagnostics.has_errors:
        return pipeline, {}, None
    manifest = build_manifest(pipeline, cfg_fps, specs)
    files: Artifacts = {"cfg.json": pretty_json(cfgs), "manifest.yaml": dump_yaml(manifest)}
    source = PurePath(pipeline.file).name
    meta = {
        "compiler": {"name": "omlc", "version": __version__},
        "components": {name: {"spec_fp": spec.fingerprint, "version": spec.version}
                       for name, spec in sorted(specs.items())},
        "fingerprints": {
            "compiler_fp": compiler_fingerprint(),
            "manifest_fp": fingerprint(manifest),
            "oml_fp": oml_fingerprint(pipeline),
            "params_fp": fingerprint({k: b.value for k, b in sorted(pipeline.bound_params.items())}),
            "registry_fp": fingerprint({name: spec.fingerprint for name, spec in specs.items()}),
        },
        "manifest_version": MANIFEST_VERSION,
        "pipeline": {"name": pipeline.name, "source": source},
    }
    files["meta.json"] = pretty_json(meta)
    files["effective_config.json"] = pretty_json({
        "params": {k: {"source": b.source, "value": b.value} for k, b in pipeline.bound_params.items()},
        "profile": pipeline.profile,
    })
    sources = {"file": source, "steps": {s.id: {"line": s.span.line, "column": s.span.column} for s in pipeline.steps}}
    files["sourcemap.json"] = pretty_json(sources)
    return pipeline, dict(sorted(files.items())), Compiled(manifest, cfgs, meta, sources)


def _cfg(step: Step, spec: ComponentSpec) -> dict[str, Any]:
    """Defaults filled in, nothing secret. The connection reference is the manifest's alone
    (`steps[].connection`): a second copy here could only disagree with it."""
    cfg: dict[str, Any] = {}
    for key, prop in spec.properties.items():
        if key != "connection" and isinstance(prop, dict) and "default" in prop and prop["default"] is not None:
            cfg[key] = prop["default"]
    cfg.update({k: v for k, v in step.config.items() if k != "connection"})
    return cfg


def _partitions(step: Step) -> dict[str, Any]:
    """`{"partitions": ...}` for a step with the block, else nothing: a step without it keeps the
    manifest's bytes exactly as they were before the field existed."""
    block = step.partitions
    if block is None:
        return {}
    values: dict[str, Any] = {item.name: value for item in record_fields(block)
                              if (value := getattr(block, item.name)) is not None}
    for key in ("bounds", "by"):
        if key in values:
            values[key] = list(values[key])
    return {"partitions": values}


def build_manifest(pipeline: Pipeline, cfg_fps: dict[str, str], specs: dict[str, ComponentSpec]) -> dict[str, Any]:
    """manifest.yaml's data for a planned pipeline, keys in the order of the `Manifest` model's
    fields (compiler.manifest, the definition of its shape and rules). `specs` maps canonical
    component names to specs.

    Plain data, not the model: every value comes from passes that enforced the same rules, and
    importing pydantic would cost each `omlc` process ~60 ms. The golden and property tests
    validate what this builds against the model (`Manifest.model_validate(data).to_data() == data`)
    and the committed schema."""
    assert pipeline.plan is not None
    plan = pipeline.plan
    by_id = {s.id: s for s in pipeline.steps}
    level_of = plan.level_of
    steps = []
    for step_id in plan.order:
        step = by_id[step_id]
        retry = step.retry
        component = step.canonical_component or step.component
        spec = specs[component]
        steps.append({
            "id": step.id,
            "component": component,
            "component_version": step.component_version or "",
            "kind": step.kind,
            "mode": step.canonical_mode,
            "family": spec.family if spec.connection != "none" else None,
            "connection": step.connection_ref,
            "cfg_fp": cfg_fps[step.id],
            "needs": list(step.depends_on),
            "inputs": {i.name: {"step": i.step, "output": i.output} for i in step.data_inputs},
            "outputs": list(step.outputs),
            "level": level_of[step.id],
            "retry": {"max_attempts": retry.max_attempts, "backoff_seconds": float(retry.backoff_seconds),
                      "max_backoff_seconds": float(retry.max_backoff_seconds)},
            **_partitions(step),
        })
    return {
        "manifest_version": MANIFEST_VERSION,
        "pipeline": {"name": pipeline.name, "oml_version": pipeline.oml_version},
        "steps": steps,
        "order": list(plan.order),
        "levels": [list(level) for level in plan.levels],
        "edges": [{"from": e.from_, "output": e.output, "to": e.to, "input": e.input} for e in plan.edges],
        "connections": sorted({s.connection_ref for s in pipeline.steps if s.connection_ref}),
    }
