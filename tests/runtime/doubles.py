"""Test components and their drivers, registered programmatically (no entry points).

`test.generator` produces deterministic rows in batches and can fail on cue (transiently or
permanently, before or after its first batch), run slowly, or run until cancelled.
`test.sink` is a writer that drains its input and reports the rows it saw; it can fail
transiently on its first attempts. Both have real component specs, so pipelines using them
compile through the real compiler (with `spec_registry()`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from osiris.compiler.spec_cache import default_registry
from osiris.runtime.driver import DriverError, StepContext, TransientError, WriteResult, iter_batches
from osiris.spec.registry import Registry, component_spec

_COMMON = {
    "version": "1.0.0",
    "connection": "none",
    "family": None,
    "capabilities": {
        "discover": False,
        "streaming": True,
        "bulk": False,
        "transactions": False,
        "health_check": False,
    },
    "connection_fields": [],
    "secrets": [],
    "constraints": [],
    "examples": [],
}

GENERATOR_SPEC = {
    **_COMMON,
    "name": "test.generator",
    "title": "Test generator",
    "kind": "extractor",
    "description": "Deterministic rows for runtime tests.",
    "modes": ["extract"],
    "outputs": ["df"],
    "config_schema": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "rows": {"type": "integer", "minimum": 0, "default": 1000},
            "batch_rows": {"type": "integer", "minimum": 1, "default": 1000},
            "text_width": {"type": "integer", "minimum": 0, "default": 8},
            "fail_at_batch": {
                "type": "integer",
                "minimum": 0,
                "description": "raise before yielding this batch",
            },
            "fail_kind": {
                "type": "string",
                "enum": ["transient", "permanent", "crash"],
                "default": "permanent",
            },
            "transient_failures": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "fail this many attempts before producing anything",
            },
            "message": {"type": "string", "default": "generator failed on cue"},
            "sleep_ms": {"type": "number", "minimum": 0, "default": 0},
            "forever": {"type": "boolean", "default": False},
        },
    },
}

SINK_SPEC = {
    **_COMMON,
    "name": "test.sink",
    "title": "Test sink",
    "kind": "writer",
    "description": "Counts what it receives.",
    "modes": ["write"],
    "outputs": [],
    "config_schema": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "transient_failures": {"type": "integer", "minimum": 0, "default": 0},
            "fail_after_rows": {"type": "integer", "minimum": 0},
            "message": {"type": "string", "default": "sink failed on cue"},
        },
    },
}


def spec_registry() -> Registry:
    """The shipped specs plus the test components."""
    base = default_registry()
    extra = [component_spec(raw) for raw in (GENERATOR_SPEC, SINK_SPEC)]
    return Registry([*base.components.values(), *extra], dict(base.families))


def _fail(kind: str, message: str) -> None:
    if kind == "transient":
        raise TransientError(message, hint="retry later")
    if kind == "crash":
        raise RuntimeError(message)
    raise DriverError(message, hint="this failure was requested by the test")


class Generator:
    """Extractor double: int64 id, float64 value, string text.

    `first_batch` is set whenever any generator has yielded a batch (for cancellation tests).
    """

    first_batch = threading.Event()

    def __init__(self) -> None:
        self.attempts = 0

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        cfg = ctx.config
        self.attempts += 1
        if self.attempts <= int(cfg.get("transient_failures", 0)):
            raise TransientError(f"{cfg.get('message')} (attempt {self.attempts})")
        schema = pa.schema([("id", pa.int64()), ("value", pa.float64()), ("text", pa.string())])
        return pa.RecordBatchReader.from_batches(schema, self._batches(ctx, schema))

    def _batches(self, ctx: StepContext, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        cfg = ctx.config
        total, size = int(cfg.get("rows", 1000)), int(cfg.get("batch_rows", 1000))
        width, sleep = int(cfg.get("text_width", 8)), float(cfg.get("sleep_ms", 0)) / 1000
        fail_at = cfg.get("fail_at_batch")
        start, index = 0, 0
        while cfg.get("forever") or start < total:
            ctx.check_cancelled()
            if fail_at is not None and index == int(fail_at):
                _fail(str(cfg.get("fail_kind", "permanent")), str(cfg.get("message")))
            count = size if cfg.get("forever") else min(size, total - start)
            ids = pa.array(range(start, start + count), pa.int64())
            values = pa.compute.multiply(ids.cast(pa.float64()), 0.5)
            text = pa.compute.binary_join_element_wise(pa.compute.cast(ids, pa.string()), pa.scalar("x" * width), "-")
            yield pa.RecordBatch.from_arrays([ids, values, text], schema=schema)
            Generator.first_batch.set()
            start += count
            index += 1
            ctx.progress(start, 0)
            if sleep:
                time.sleep(sleep)


class Sink:
    """Writer double: drains its input; `received` keeps the row count of the last attempt."""

    seen: dict[str, int] = {}
    lock = threading.Lock()

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        cfg = ctx.config
        self.attempts += 1
        if self.attempts <= int(cfg.get("transient_failures", 0)):
            raise TransientError(f"{cfg.get('message')} (attempt {self.attempts})")
        rows = 0
        for batch in iter_batches(data):
            ctx.check_cancelled()
            rows += batch.num_rows
            limit = cfg.get("fail_after_rows")
            if limit is not None and rows > int(limit):
                raise DriverError(str(cfg.get("message")))
        with Sink.lock:
            Sink.seen[ctx.step_id] = rows
        return WriteResult(rows=rows, bytes=rows * 8, target=f"sink:{ctx.step_id}")


OVERRIDES: dict[str, Any] = {"test.generator": Generator, "test.sink": Sink}


def import_pa_compute() -> None:
    import pyarrow.compute  # noqa: F401 - makes pa.compute available to the generator


import_pa_compute()
