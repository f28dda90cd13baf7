"""OML047: an incremental extractor needs one writer that keeps its state with the rows.

The runtime commits an incremental step's cursor state in the transaction of the writer its
rows reach (runtime/incremental.py), so the graph decides whether a pipeline can be
incremental at all: exactly one writer downstream, one that keeps state, appending or
upserting, and upserting by the same key when `lookback` reads rows again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.pointer import join
from osiris.spec.registry import Registry

__all__ = ["check_incremental", "state_keepers"]


def _keys(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def state_keepers(steps: Sequence[Step]) -> dict[str, list[Step]]:
    """Incremental extractor id -> every writer its rows reach (through transforms)."""
    by_id = {s.id: s for s in steps}
    consumers: dict[str, list[str]] = {}
    for step in steps:
        for ref in step.data_inputs:
            consumers.setdefault(ref.step, []).append(step.id)
    out: dict[str, list[Step]] = {}
    for step in steps:
        if step.kind != "extractor" or not step.config.get("incremental"):
            continue
        seen, todo, writers = {step.id}, [step.id], []
        while todo:
            for nxt in consumers.get(todo.pop(), []):
                if nxt in seen or nxt not in by_id:
                    continue
                seen.add(nxt)
                todo.append(nxt)
                if by_id[nxt].kind == "writer":
                    writers.append(by_id[nxt])
        out[step.id] = writers
    return out


def check_incremental(steps: Sequence[Step], pipeline: Pipeline, registry: Registry, d: Diagnostics) -> None:
    """Report OML047 at the `incremental:` block of every step that cannot keep its state."""
    by_id = {s.id: s for s in steps}
    for step_id, writers in state_keepers(steps).items():
        step = by_id[step_id]
        if not step.valid:
            continue
        pointer = join(step.pointer, "config", "incremental")
        block = step.config["incremental"]

        def report(message: str, hint: str, *, where: str = pointer) -> None:
            at = pipeline.spans.get(KEY_PREFIX + where) or pipeline.span_of(where)
            d.add("OML047", at, message, help=hint, pointer=where)

        if step.config.get("limit") is not None:
            report(f"step '{step_id}' combines `limit` with `incremental`",
                   "remove `limit`: the state must cover every row the window holds",
                   where=join(step.pointer, "config", "limit"))
        if step.partitions is not None:
            report(f"step '{step_id}' is incremental and partitioned",
                   "remove `partitions:`; an incremental window is read in one piece",
                   where=join(step.pointer, "partitions"))
        if len(writers) != 1:
            names = ", ".join(f"'{w.id}'" for w in writers) or "none"
            report(f"incremental step '{step_id}' reaches {len(writers)} writers ({names}); "
                   "its state is kept by exactly one",
                   "split the pipeline so each incremental extractor feeds one writer")
            continue
        writer = writers[0]
        spec = registry.get(writer.canonical_component or writer.component)
        if spec is None or not writer.valid:
            continue
        if not spec.capabilities.get("keeps_state"):
            keepers = ", ".join(sorted(n for n, s in registry.components.items() if s.capabilities.get("keeps_state")))
            report(f"incremental step '{step_id}' writes through '{writer.id}' ({spec.name}), "
                   "which cannot keep incremental state", f"write to a component that can: {keepers}")
            continue
        mode = str(writer.config.get("write_mode") or "append")
        mode_at = join(writer.pointer, "config", "write_mode")
        if mode == "replace":
            report(f"writer '{writer.id}' replaces its table, so after an incremental run it would hold "
                   f"only what changed since the last one (step '{step_id}')",
                   "use `write_mode: upsert` (with `primary_key`) or `append`", where=mode_at)
        elif isinstance(block, dict) and block.get("lookback") is not None:
            key = _keys(block.get("primary_key"))
            if mode != "upsert":
                report(f"`lookback` reads rows of step '{step_id}' again, and writer '{writer.id}' appends "
                       "them a second time", "set `write_mode: upsert` with the same `primary_key` on the "
                       "writer", where=mode_at)
            elif not key or key != _keys(writer.config.get("primary_key")):
                report(f"`lookback` needs `incremental.primary_key` equal to writer '{writer.id}'s "
                       "`primary_key`, so rows read again replace themselves",
                       f"set `primary_key: {list(_keys(writer.config.get('primary_key')))}` in the incremental block",
                       where=join(pointer, "lookback"))
