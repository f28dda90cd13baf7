"""OML047: an incremental extractor needs one writer that keeps its state with the rows.

The runtime commits an incremental step's cursor state in the transaction of the writer its
rows reach (runtime/incremental.py), so the graph decides whether a pipeline can be
incremental at all: exactly one writer downstream, one that keeps state, appending or
upserting, and upserting by the same key when `lookback` reads rows again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.pointer import join

if TYPE_CHECKING:  # the runtime imports manifest_state_writers with the component specs unimportable
    from osiris.spec.models import ComponentSpec
    from osiris.spec.registry import Registry

__all__ = ["ColumnTypes", "DiscoveredTable", "KeeperProblem", "check_incremental", "keeper_problems", "manifest_state_writers",
           "state_keepers"]


@dataclass(frozen=True)
class DiscoveredTable:
    """A table's columns as discovery saw them: name -> (Arrow type as text, "" when unknown;
    nullable). What `CompileOptions.discovered` returns (compiler/passes/check_cursors.py)."""

    columns: Mapping[str, tuple[str, bool]]
    source: str
    """Where it came from, for messages: `the discovery cache of @postgres.db, 12 min old`."""


ColumnTypes = Callable[[str, str], "DiscoveredTable | None"]
"""(connection reference, table as written) -> its discovered columns, or None."""


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


@dataclass(frozen=True)
class KeeperProblem:
    """Why an incremental step cannot keep its state; `where` is `limit`, `partitions`,
    `incremental`, `write_mode` or `lookback` (which key of which step to point at)."""

    message: str
    hint: str
    where: str


def keeper_problems(step_id: str, config: Mapping[str, Any], partitioned: bool,
                    writers: Sequence[tuple[str, Mapping[str, Any], ComponentSpec | None]],
                    registry: Registry) -> list[KeeperProblem]:
    """The OML047 rules, for the compiler (on OML) and for a manifest from elsewhere (OML094).
    `writers` are the (id, config, spec) of every writer the step's rows reach."""
    block = config.get("incremental") or {}
    out: list[KeeperProblem] = []
    if config.get("limit") is not None:
        out.append(KeeperProblem(f"step '{step_id}' combines `limit` with `incremental`",
                                 "remove `limit`: the state must cover every row the window holds", "limit"))
    if partitioned:
        out.append(KeeperProblem(f"step '{step_id}' is incremental and partitioned",
                                 "remove `partitions:`; an incremental window is read in one piece", "partitions"))
    if len(writers) != 1:
        names = ", ".join(f"'{w[0]}'" for w in writers) or "none"
        out.append(KeeperProblem(f"incremental step '{step_id}' reaches {len(writers)} writers ({names}); its "
                                 "state is kept by exactly one",
                                 "split the pipeline so each incremental extractor feeds one writer", "incremental"))
        return out
    writer_id, writer_config, spec = writers[0]
    if spec is None:
        return out
    if not spec.capabilities.get("keeps_state"):
        keepers = ", ".join(sorted(n for n, s in registry.components.items() if s.capabilities.get("keeps_state")))
        out.append(KeeperProblem(f"incremental step '{step_id}' writes through '{writer_id}' ({spec.name}), which "
                                 "cannot keep incremental state", f"write to a component that can: {keepers}",
                                 "incremental"))
        return out
    mode = str(writer_config.get("write_mode") or "append")
    if mode == "replace":
        out.append(KeeperProblem(f"writer '{writer_id}' replaces its table, so after an incremental run it would "
                                 f"hold only what changed since the last one (step '{step_id}')",
                                 "use `write_mode: upsert` (with `primary_key`) or `append`", "write_mode"))
    elif isinstance(block, Mapping) and block.get("lookback") is not None:
        key, writer_key = _keys(block.get("primary_key")), _keys(writer_config.get("primary_key"))
        if mode != "upsert":
            out.append(KeeperProblem(f"`lookback` reads rows of step '{step_id}' again, and writer '{writer_id}' "
                                     "appends them a second time",
                                     "set `write_mode: upsert` with the same `primary_key` on the writer", "write_mode"))
        elif not key or key != writer_key:
            out.append(KeeperProblem(f"`lookback` needs `incremental.primary_key` equal to writer '{writer_id}'s "
                                     "`primary_key`, so rows read again replace themselves",
                                     f"set `primary_key: {list(writer_key)}` in the incremental block", "lookback"))
    return out


def manifest_state_writers(manifest: Any, cfgs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The same walk over a compiled manifest (its `edges`): incremental extractor id -> every
    writer its rows reach. Manifest verification and the runtime both ask it."""
    downstream: dict[str, list[str]] = {}
    for edge in manifest.edges:
        downstream.setdefault(edge.from_, []).append(edge.to)
    kinds = {s.id: s.kind for s in manifest.steps}
    out: dict[str, list[str]] = {}
    for step in manifest.steps:
        if step.kind != "extractor" or not (cfgs.get(step.id) or {}).get("incremental"):
            continue
        seen, todo, writers = {step.id}, [step.id], []
        while todo:
            for nxt in downstream.get(todo.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
                    if kinds.get(nxt) == "writer":
                        writers.append(nxt)
        out[step.id] = writers
    return out


def check_incremental(steps: Sequence[Step], pipeline: Pipeline, registry: Registry, d: Diagnostics) -> None:
    """Report OML047 at the key of every incremental step (or its writer) that breaks a rule."""
    by_id = {s.id: s for s in steps}
    for step_id, writers in state_keepers(steps).items():
        step = by_id[step_id]
        if not step.valid or any(not w.valid for w in writers):
            continue
        block = step.config.get("incremental")
        spec = registry.get(step.canonical_component or step.component)
        if isinstance(block, dict) and block.get("cursor") == "@modified" and spec is not None \
                and spec.family != "filesystem":
            where = join(step.pointer, "config", "incremental", "cursor")
            d.add("OML047", pipeline.span_of(where), f"step '{step_id}' reads {spec.name}: `@modified` is the "
                  "modification time of files", help="name a column that grows when a row changes", pointer=where)
        described = [(w.id, w.config, registry.get(w.canonical_component or w.component)) for w in writers]
        for problem in keeper_problems(step_id, step.config, step.partitions is not None, described, registry):
            where = {
                "limit": join(step.pointer, "config", "limit"),
                "partitions": join(step.pointer, "partitions"),
                "incremental": join(step.pointer, "config", "incremental"),
                "lookback": join(step.pointer, "config", "incremental", "lookback"),
                "write_mode": join(writers[0].pointer, "config", "write_mode") if writers else "",
            }[problem.where]
            at = pipeline.spans.get(KEY_PREFIX + where) or pipeline.span_of(where)
            d.add("OML047", at, problem.message, help=problem.hint, pointer=where)
