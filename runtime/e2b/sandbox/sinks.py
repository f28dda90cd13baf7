"""The worker's sinks: everything the executor records becomes a masked protocol message.

`ForwardEvents` and `ForwardMetrics` stand in for the session's `EventLog` and `MetricLog`
(the executor and `LocalStepContext` only call `emit`), `LogForwarder` ships log records,
and `Wire` masks, path-maps, encodes and writes each message, counting what that costs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from osiris.runtime.e2b.paths import PathMapper
from osiris.runtime.e2b.protocol import encode
from osiris.runtime.secrets import SecretMasker

__all__ = ["ForwardEvents", "ForwardMetrics", "LogForwarder", "Wire", "snapshot"]


class Wire:
    """Masked, path-mapped, counted protocol output."""

    def __init__(self, out: Any, masker: SecretMasker, mapper: PathMapper) -> None:
        self.out, self.masker, self.mapper = out, masker, mapper
        self.bytes_sent = 0
        self.messages = 0
        self.seconds = 0.0
        """CPU time spent masking, encoding and writing: the worker's share of the protocol overhead."""

    def send(self, message: dict[str, Any]) -> None:
        # Masked as data (every string, keys too) before encoding, like the session's own logs.
        # Not again as text: the compact line has no spaces, so the URL-password pattern could
        # run across a closing quote and break the JSON.
        started = time.thread_time()
        line = self.mapper.apply(encode(self.masker.mask_data(message)))
        self.bytes_sent += len(line.encode("utf-8"))
        self.messages += 1
        self.out.send_line(line)
        self.seconds += time.thread_time() - started

    def stats(self) -> dict[str, Any]:
        return {"messages": self.messages, "bytes": self.bytes_sent, "seconds": round(self.seconds, 6)}


class LogForwarder(logging.Handler):
    def __init__(self, wire: Wire, level: int) -> None:
        super().__init__(level)
        self.wire = wire

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.wire.send({"type": "log", "level": record.levelno, "logger": record.name, "message": text})
        except Exception:  # noqa: BLE001 - logging must never break a run
            pass


class ForwardEvents:
    """Duck-types `runtime.events.EventLog` for the executor: events become protocol messages."""

    def __init__(self, wire: Wire, session_id: str) -> None:
        self.wire, self.session_id = wire, session_id

    def emit(self, event: str, step_id: str | None = None, **fields: Any) -> dict[str, Any]:
        message = {"type": "event", "event": event, "step_id": step_id, "fields": fields}
        self.wire.send(message)
        return message

    def listen(self, callback: Any) -> None:  # pragma: no cover - not used by the executor
        pass

    def close(self) -> None:
        pass


class ForwardMetrics:
    """Duck-types `runtime.events.MetricLog`."""

    def __init__(self, wire: Wire, session_id: str) -> None:
        self.wire, self.session_id = wire, session_id

    def emit(self, metric: str, value: float, unit: str | None = None, step_id: str | None = None, **tags: Any) -> None:
        self.wire.send(
            {
                "type": "metric",
                "metric": metric,
                "value": value,
                "unit": unit,
                "step_id": step_id,
                "tags": {k: v for k, v in tags.items() if v is not None},
            }
        )

    def close(self) -> None:
        pass


def snapshot(state: Any) -> dict[str, Any]:
    """A StepState as plain data; monotonic clock readings become elapsed milliseconds."""
    data = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name not in ("started", "finished")}
    data["elapsed_ms"] = state.duration_ms
    data["started"] = state.started is not None
    data["finished"] = state.finished is not None
    return data
