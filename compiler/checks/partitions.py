"""Which `partitions:` keys a step may use, once its component (and so its kind) is known.

Lowering checked the block's shape (oml.partitions). Here: `column` and `bounds` split an
extractor's read, `scope` and `by` group a transform's rows, and a writer takes `count` only.
A step whose component is unknown is not checked (OML040 already says what is wrong).
"""

from __future__ import annotations

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import Kind, Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.partitions import EXTRACTOR_KEYS, PARTITION_KEYS, TRANSFORM_KEYS
from osiris.oml.pointer import join

__all__ = ["allowed_partition_keys", "check_partition_keys"]


def allowed_partition_keys(kind: Kind) -> tuple[str, ...]:
    """The `partitions:` keys a step of `kind` may use, in PARTITION_KEYS order."""
    own = {"extractor": EXTRACTOR_KEYS, "transform": TRANSFORM_KEYS, "writer": ()}[kind]
    return tuple(key for key in PARTITION_KEYS if key == "count" or key in own)


def check_partition_keys(step: Step, kind: Kind, component: str, pipeline: Pipeline, d: Diagnostics) -> bool:
    """OML025 at each key of the step's block that its kind does not take; False if any."""
    if step.partitions is None:
        return True
    allowed = allowed_partition_keys(kind)
    ok = True
    for key in PARTITION_KEYS:
        if getattr(step.partitions, key) is None or key in allowed:
            continue
        pointer = join(step.pointer, "partitions", key)
        if key == "scope" and pointer not in pipeline.spans:
            continue  # `by` alone: normalising added `scope: hash`; `by` is reported instead
        at = pipeline.spans.get(KEY_PREFIX + pointer) or pipeline.span_of(pointer)
        uses = "extractors" if key in EXTRACTOR_KEYS else "transforms"
        takes = [f"`{k}`" for k in allowed]
        listed = takes[0] if len(takes) == 1 else f"{', '.join(takes[:-1])} and {takes[-1]}"
        d.add("OML025", at, f"`partitions.{key}` applies to {uses}; step '{step.id}' is {_a(kind)} ({component})",
              help=f"under `partitions`, {_a(kind)} takes {listed}{' only' if len(takes) == 1 else ''}",
              pointer=pointer)
        ok = False
    return ok



def _a(kind: Kind) -> str:
    return f"an {kind}" if kind == "extractor" else f"a {kind}"
