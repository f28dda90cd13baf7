"""`omlc graph`: the step graph as Mermaid or Graphviz DOT, from the same IR the compiler plans."""

from __future__ import annotations

import json

from osiris.oml.ir import Pipeline

_SHAPES = {"extractor": ("[(", ")]"), "transform": ("[[", "]]"), "writer": ("[/", "/]")}


def _label(step_id: str, component: str) -> str:
    return json.dumps(f"{step_id}\n{component}").replace("\\n", "<br/>")


def render_graph(pipeline: Pipeline, fmt: str = "mermaid") -> str:
    steps = sorted(pipeline.steps, key=lambda s: s.index)
    data_edges = {(i.step, s.id, i.name) for s in steps for i in s.data_inputs}
    order_edges = {(dep, s.id) for s in steps for dep in s.depends_on} - {(a, b) for a, b, _ in data_edges}
    if fmt == "dot":
        lines = [f"digraph {json.dumps(pipeline.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for s in steps:
            lines.append(f"  {json.dumps(s.id)} [label={json.dumps(s.id + chr(10) + s.component)}];")
        for a, b, name in sorted(data_edges):
            label = f" [label={json.dumps(name)}]" if name != a else ""
            lines.append(f"  {json.dumps(a)} -> {json.dumps(b)}{label};")
        for a, b in sorted(order_edges):
            lines.append(f"  {json.dumps(a)} -> {json.dumps(b)} [style=dashed];")
        return "\n".join(lines) + "\n}\n"
    ids = {s.id: f"s{n}" for n, s in enumerate(steps)}
    lines = ["flowchart LR"]
    for s in steps:
        left, right = _SHAPES.get(s.kind or "", ("[", "]"))
        lines.append(f"  {ids[s.id]}{left}{_label(s.id, s.component)}{right}")
    for a, b, name in sorted(data_edges):
        if a in ids:
            label = f"|{name}|" if name != a else ""
            lines.append(f"  {ids[a]} -->{label} {ids[b]}")
    for a, b in sorted(order_edges):
        if a in ids:
            lines.append(f"  {ids[a]} -.-> {ids[b]}")
    return "\n".join(lines) + "\n"
