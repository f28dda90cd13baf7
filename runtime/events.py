"""events.jsonl and metrics.jsonl: structured, masked, thread-safe run records.

One lock per file and one `write` per line, so lines from concurrent steps never interleave.
Every record is masked by the run's `SecretMasker` before it is serialised, and the
serialised line is masked once more (for secrets that only appear after JSON escaping).
Schemas: docs/events.md and runtime/schemas/{event,metric}.schema.json.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from osiris.compiler.files import open_private
from osiris.runtime.secrets import SecretMasker

__all__ = ["HEADER_FIELDS", "RESERVED_FIELDS", "EventLog", "JsonlWriter", "MetricLog", "clean_fields", "utc_now"]

HEADER_FIELDS = ("seq", "ts", "session_id", "event", "step_id")
"""The envelope of every event line; readers (`osiris logs`, reports) show it apart from the rest."""

RESERVED_FIELDS = frozenset({*HEADER_FIELDS, "component", "metric", "value", "unit"})
"""Names the runtime sets on events and metrics itself. A driver's event field or metric tag
with one of these names is renamed `driver_<name>` (docs/events.md), never dropped or merged."""


def clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` with every reserved name renamed `driver_<name>`."""
    return {f"driver_{k}" if k in RESERVED_FIELDS else k: v for k, v in fields.items()}


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with milliseconds, e.g. 2025-01-31T12:00:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonlWriter:
    """Append JSON objects to a file, one line each, under a lock; flushed per line."""

    def __init__(self, path: Path, masker: SecretMasker) -> None:
        self.path = path
        self.masker = masker
        self._lock = threading.Lock()
        self._seq = 0
        self._handle = open_private(path, "a")  # closed by close(); 0600 like every session file

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Mask, number and append `record`; returns what was written."""
        masked = self.masker.mask_data(record)
        with self._lock:
            self._seq += 1
            masked = {"seq": self._seq, **masked}
            # Masked as data above: masking the serialised line again could not tell where a
            # JSON string ends, and mask_data already turned every other object into masked text.
            line = json.dumps(masked, ensure_ascii=False, default=str, sort_keys=False)
            if not self._handle.closed:
                self._handle.write(line + "\n")
                self._handle.flush()
        return masked

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class EventLog:
    """The run's events: `emit(name, step_id=..., **fields)` -> one line in events.jsonl.

    The runtime's own fields come as keywords; a driver's come through `clean_fields` (see
    `LocalStepContext.event`). A field that would overwrite the envelope (`seq`, `ts`,
    `session_id`, `event`, `step_id`) is renamed `driver_<name>` here too, so no caller can
    forge or lose one.
    """

    def __init__(self, path: Path, session_id: str, masker: SecretMasker) -> None:
        self.session_id = session_id
        self._writer = JsonlWriter(path, masker)

    def emit(self, event: str, step_id: str | None = None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"ts": utc_now(), "session_id": self.session_id, "event": event}
        if step_id is not None:
            record["step_id"] = step_id
        for key, value in fields.items():
            record[f"driver_{key}" if key in HEADER_FIELDS else key] = value
        return self._writer.write(record)

    def close(self) -> None:
        self._writer.close()


class MetricLog:
    """The run's metrics, tagged with the step id (never baked into the metric name)."""

    def __init__(self, path: Path, session_id: str, masker: SecretMasker) -> None:
        self.session_id = session_id
        self._writer = JsonlWriter(path, masker)

    def emit(
        self, metric: str, value: float, unit: str | None = None, step_id: str | None = None, **tags: Any
    ) -> None:
        record: dict[str, Any] = {
            "ts": utc_now(),
            "session_id": self.session_id,
            "metric": metric,
            "value": value,
            "unit": unit,
        }
        if step_id is not None:
            record["step_id"] = step_id
        record["tags"] = {key: tag for key, tag in tags.items() if tag is not None}
        self._writer.write(record)

    def close(self) -> None:
        self._writer.close()
