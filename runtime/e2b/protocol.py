"""The host <-> worker wire format: one JSON object per line, versioned by `PROTOCOL`.

Line-delimited JSON because both transports carry a byte stream (a pipe locally, the E2B
command's stdout/stdin in the cloud), every message is small, and a human can read a
captured session with `jq`. The full message catalogue is in docs/e2b-protocol.md; this
module holds the framing, the version, the message names and their required fields, and
nothing that imports pyarrow, so the bootstrap and the host can share it cheaply.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "HOST_MESSAGES",
    "MAX_LINE",
    "PROTOCOL",
    "WORKER_MESSAGES",
    "LineBuffer",
    "ProtocolError",
    "decode",
    "encode",
    "encode_many",
]

PROTOCOL = 2
"""Bumped on any incompatible change; host and worker must agree exactly (2: connections
over stdin instead of the worker's environment)."""

MAX_LINE = 8 * 1024 * 1024
"""A line longer than this is a protocol error (a runaway or corrupted stream)."""

# Message type -> fields it must carry (beyond "type").
WORKER_MESSAGES: dict[str, tuple[str, ...]] = {
    "handshake": ("protocol", "osiris", "build", "python", "packages"),
    "event": ("event", "fields"),
    "metric": ("metric", "value", "step_id"),
    "state": ("step",),
    "artifact": ("step_id", "path", "size", "sha256"),
    "log": ("level", "logger", "message"),
    "heartbeat": ("phase",),
    "result": ("status", "steps"),
    "error": ("stage", "message"),
}
HOST_MESSAGES: dict[str, tuple[str, ...]] = {
    "handshake": ("protocol", "accepted"),
    "connections": ("payload",),
    "exec_step": ("step_id", "cfg_fp", "index", "count"),
    "cancel": (),
    "shutdown": (),
}


class ProtocolError(Exception):
    """A line that is not a well-formed message of this protocol version."""


def encode(message: Mapping[str, Any]) -> str:
    """One message as one line (compact JSON, UTF-8 text, trailing newline)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def encode_many(messages: Iterable[Mapping[str, Any]]) -> str:
    """Several messages in one write, so a remote transport sends them in one request."""
    return "".join(encode(message) for message in messages)


def decode(line: str, known: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """Parse and check one line against the message table of the sending side."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"message of {len(line)} bytes exceeds the {MAX_LINE}-byte limit")
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the interpreter's stack
        raise ProtocolError(f"not a JSON message: {_preview(line)}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(f'not a protocol message (no "type"): {_preview(line)}')
    required = known.get(message["type"])
    if required is None:
        raise ProtocolError(f"unknown message type {message['type']!r}")
    missing = [name for name in required if name not in message]
    if missing:
        raise ProtocolError(f"{message['type']} message lacks {', '.join(missing)}")
    return message


def _preview(line: str) -> str:
    text = line.strip()
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


class LineBuffer:
    """Reassemble lines from arbitrary chunks (E2B delivers stdout in pieces of any size)."""

    def __init__(self) -> None:
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: str | bytes) -> list[str]:
        """Add a chunk; return the complete lines it finished (without their newlines)."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if "\n" not in text:
            self._pending += text
            if len(self._pending) > MAX_LINE:
                raise ProtocolError(f"a line exceeds the {MAX_LINE}-byte limit")
            return []
        head, *middle, tail = (self._pending + text).split("\n")
        self._pending = tail
        return [line for line in (head, *middle) if line.strip()]

    @property
    def pending(self) -> str:
        """An unfinished last line (shown when a stream ends mid-message)."""
        return self._pending
