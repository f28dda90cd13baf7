"""Pass: an incremental cursor against the source's discovered columns, where they are known.

The compiler never connects to anything; whoever runs it may hand it what discovery already
learned (`CompileOptions.discovered`: `osiris run`, `omlc check` and `omlc compile` pass the
discovery cache that `osiris discover` and `osiris chat` fill). Where that knows the step's
table, the cursor must be one of its columns, of a type that orders changes, `initial` must be
a value of that type (OML047), and a nullable cursor feeding an appending writer gets a warning:
its NULL rows are read on every run. Without a discovered table nothing is claimed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from osiris.compiler.checks.incremental import ColumnTypes, DiscoveredTable, state_keepers
from osiris.compiler.context import CompileContext
from osiris.oml.ir import Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.pointer import join
from osiris.oml.suggest import did_you_mean

__all__ = ["check_cursors"]

_ORDERED = re.compile(r"^(u?int(8|16|32|64)|decimal(128|256)?\(.*|double|float|halffloat|date(32|64)|"
                      r"timestamp\[.*|string|large_string)$")


def check_cursors(pipeline: Pipeline, ctx: CompileContext) -> Pipeline:
    lookup: ColumnTypes | None = getattr(ctx, "discovered", None)
    if lookup is None:
        return pipeline
    keepers = state_keepers(pipeline.steps)
    for step in pipeline.steps:
        block = step.config.get("incremental")
        table = step.config.get("table")
        if not (step.valid and isinstance(block, dict) and isinstance(table, str) and step.connection_ref):
            continue
        found = lookup(step.connection_ref, table)
        if found is not None:
            _check(pipeline, ctx, step, block, found, keepers.get(step.id, []))
    return pipeline


def _check(pipeline: Pipeline, ctx: CompileContext, step: Step, block: Mapping[str, Any],
           found: DiscoveredTable, writers: list[Step]) -> None:
    cursor = str(block.get("cursor") or "")
    pointer = join(step.pointer, "config", "incremental", "cursor")
    at = pipeline.span_of(pointer)
    column = found.columns.get(cursor)
    if column is None:
        hint = did_you_mean(cursor, list(found.columns)) or f"columns: {', '.join(found.columns)}"
        ctx.diagnostics.add("OML047", at, f"the cursor '{cursor}' is not a column of {step.config['table']} "
                            f"({found.source})", help=f"{hint}; `osiris discover --refresh` if the table changed",
                            pointer=pointer)
        return
    kind, nullable = column
    if kind and not _ORDERED.match(kind):
        ctx.diagnostics.add("OML047", at, f"the cursor '{cursor}' is {kind} ({found.source}), which cannot "
                            "order changes", help="use an integer, decimal, date, timestamp or text column",
                            pointer=pointer)
        return
    initial = block.get("initial")
    if initial is not None and kind and not _fits(initial, kind):
        where = join(step.pointer, "config", "incremental", "initial")
        ctx.diagnostics.add("OML047", pipeline.span_of(where), f"`initial` {initial!r} is not a value of the "
                            f"cursor '{cursor}' ({kind}, {found.source})",
                            help="write it as the cursor's type: a number, an ISO date or timestamp", pointer=where)
    if nullable and len(writers) == 1 and str(writers[0].config.get("write_mode") or "append") == "append":
        ctx.diagnostics.add("OML047", pipeline.spans.get(KEY_PREFIX + pointer) or at,
                            f"the cursor '{cursor}' may be NULL ({found.source}); such rows are read on every "
                            f"run, and writer '{writers[0].id}' appends them each time",
                            help="make the writer upsert by a key, or the column NOT NULL", pointer=pointer,
                            severity="warning")


def _fits(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind.startswith(("int", "uint")):
        return isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None)
    if kind.startswith(("decimal", "double", "float", "halffloat")):
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return True
    if kind.startswith("date"):
        return _parses(value, date.fromisoformat) or _parses(value, datetime.fromisoformat)
    if kind.startswith("timestamp"):
        return _parses(value, datetime.fromisoformat)
    return isinstance(value, str)


def _parses(value: Any, parse: Callable[[str], Any]) -> bool:
    if not isinstance(value, str):
        return isinstance(value, (date, datetime))
    try:
        parse(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
