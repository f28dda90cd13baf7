"""events.jsonl and metrics.jsonl: structured, masked, thread-safe run records.

One lock per file and one `write` per line, so lines from concurrent steps never interleave.
Every record is masked by the run's `SecretMasker` before it is serialised, and the
serialised line is masked once more (for secrets that only appear after JSON escaping).
Schemas: docs/events.md and runtime/schemas/{event,metric}.schema.json.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.secrets import SecretMasker

__all__ = ["EventLog", "JsonlWriter", "MetricLog", "utc_now"]


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
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Mask, number and append `record`; returns what was written."""
        masked = self.masker.mask_data(record)
        with self._lock:
            self._seq += 1
            masked = {"seq": self._seq, **masked}
            line = self.masker.mask(json.dumps(masked, ensure_ascii=False, default=str, sort_keys=False))
            if not self._handle.closed:
                self._handle.write(line + "\n")
                self._handle.flush()
        return masked

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class EventLog:
    """The run's events: `emit(name, step_id=..., **fields)` -> one line in events.jsonl."""

    def __init__(self, path: Path, session_id: str, masker: SecretMasker) -> None:
        self.session_id = session_id
        self._writer = JsonlWriter(path, masker)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback` with every (masked) event after it is written (live display)."""
        self._listeners.append(callback)

    def emit(self, event: str, step_id: str | None = None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"ts": utc_now(), "session_id": self.session_id, "event": event}
        if step_id is not None:
            record["step_id"] = step_id
        for key, value in fields.items():
            if key not in record and key != "seq":
                record[key] = value
        written = self._writer.write(record)
        for callback in self._listeners:
            callback(written)
        return written

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
