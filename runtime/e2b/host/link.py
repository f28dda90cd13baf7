"""The host's end of the conversation with one worker: lines in, messages out, and liveness.

Stdout chunks from the transport are reassembled into lines on the transport's thread and
queued; the host's run loop takes them from the queue, decodes them, and learns here when
the worker is gone (its process ended, the sandbox expired, the stream broke) or silent for
longer than the heartbeat timeout. Every such ending becomes a `SandboxFailure` with a
message a user can act on; its text is masked by the caller. The sandbox is untrusted:
every message is validated (runtime.e2b.host.inbound) before it is returned, and the worker may
send at most `max_bytes` in all.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from typing import Any

from osiris.runtime.e2b.host.inbound import validate
from osiris.runtime.e2b.host.transport import (
    ConnectionLost,
    ProcessExit,
    RemoteProcess,
    Sandbox,
    SandboxTimeout,
    TransportError,
)
from osiris.runtime.e2b.protocol import WORKER_MESSAGES, LineBuffer, ProtocolError, decode, encode_many
from osiris.runtime.secrets import SecretMasker

__all__ = ["SandboxFailure", "WorkerLink"]

log = logging.getLogger("osiris.e2b")


class SandboxFailure(Exception):
    """The sandbox run cannot go on; `step_id` names the step to blame when the host knows it."""

    def __init__(self, message: str, hint: str | None = None, step_id: str | None = None) -> None:
        super().__init__(message)
        self.hint, self.step_id = hint, step_id


_STDERR_LINE = 2000
"""Characters of a worker stderr line kept for error messages."""
_STDERR_LOGGED = 16 * 2**20
"""Worker stderr beyond this many characters is no longer logged (only its last lines are kept)."""


class WorkerLink:
    def __init__(
        self, masker: SecretMasker, timeout_s: int, heartbeat_timeout_s: float, max_bytes: int = 256 * 2**20
    ) -> None:
        self.masker = masker
        self.max_bytes = max_bytes
        self.timeout_s, self.heartbeat_timeout_s = timeout_s, heartbeat_timeout_s
        self.process: RemoteProcess | None = None
        self.inbox: queue.Queue[str] = queue.Queue()
        self.stderr_tail: list[str] = []
        self.counts = {"bytes_in": 0, "bytes_out": 0, "messages_in": 0, "messages_out": 0, "stderr_bytes": 0}
        self.decode_s = 0.0
        """Host CPU time spent decoding worker lines."""
        self.last_seen = time.monotonic()
        self._buffer = LineBuffer()

    def start(self, sandbox: Sandbox, argv: list[str], env: dict[str, str], cwd: str) -> None:
        try:
            self.process = sandbox.start(argv, env=env, cwd=cwd, on_stdout=self._stdout, on_stderr=self._stderr)
        except TransportError as error:
            raise SandboxFailure(f"the sandbox worker could not be started: {error}", error.hint) from None
        self.last_seen = time.monotonic()

    def _stdout(self, chunk: str) -> None:
        self.counts["bytes_in"] += len(chunk.encode("utf-8"))
        if self.counts["bytes_in"] > self.max_bytes:
            return  # next() ends the run; nothing more is buffered
        try:
            for line in self._buffer.feed(chunk):
                self.inbox.put(line)
        except ProtocolError as error:
            self.inbox.put(json.dumps({"type": "error", "stage": "protocol", "message": str(error)}))

    def _stderr(self, chunk: str) -> None:
        self.counts["stderr_bytes"] += len(chunk)
        logged = self.counts["stderr_bytes"] <= _STDERR_LOGGED
        for line in chunk.splitlines():
            if line.strip():
                line = line[:_STDERR_LINE]
                self.stderr_tail = (self.stderr_tail + [line])[-20:]
                if logged:
                    log.debug("sandbox stderr: %s", self.masker.mask(line))

    def send(self, messages: list[dict[str, Any]]) -> None:
        """Several messages in one write (one request on the E2B transport)."""
        assert self.process is not None
        data = encode_many(messages)
        self.counts["bytes_out"] += len(data.encode("utf-8"))
        self.counts["messages_out"] += len(messages)
        try:
            self.process.send(data)
        except TransportError as error:
            raise SandboxFailure(f"lost the connection to the sandbox: {error}", error.hint) from None

    def next(self, timeout: float = 0.05, *, lenient: bool = False) -> dict[str, Any] | None:
        """The next worker message, or None after `timeout`; SandboxFailure when the worker is gone.

        `lenient` (until the handshake) skips lines that are not protocol messages: a login
        shell in a sandbox image may print a banner before the bootstrap takes over stdout.
        """
        if self.counts["bytes_in"] > self.max_bytes:
            raise SandboxFailure(
                f"the sandbox worker sent more than {self.max_bytes} bytes of messages; the run was stopped",
                "a step produced an unbounded stream of events or logs, or the sandbox is misbehaving",
            )
        try:
            line = self.inbox.get(timeout=timeout)
        except queue.Empty:
            self._check_alive()
            return None
        self.counts["messages_in"] += 1
        self.last_seen = time.monotonic()
        started = time.thread_time()
        try:
            message = decode(line, WORKER_MESSAGES)
        except ProtocolError as error:
            if lenient:
                log.info("sandbox output before the handshake: %s", self.masker.mask(line[:200]))
                return None
            raise SandboxFailure(
                f"the sandbox worker sent a malformed message: {self.masker.mask(str(error))}"
            ) from None
        try:
            message = validate(message)
        except ProtocolError as error:
            raise SandboxFailure(
                f"the sandbox worker sent an invalid message: {self.masker.mask(str(error))}"
            ) from None
        self.decode_s += time.thread_time() - started
        if message["type"] == "error":
            raise SandboxFailure(self._worker_error(message))
        return message

    def _check_alive(self) -> None:
        assert self.process is not None
        exit_info = self.process.poll()
        if exit_info is not None and self.inbox.empty():
            raise SandboxFailure(self._exit_message(exit_info), getattr(exit_info.error, "hint", None))
        silent = time.monotonic() - self.last_seen
        if silent > self.heartbeat_timeout_s:
            raise SandboxFailure(
                f"lost the connection to the sandbox: no message from the worker for {silent:.0f} s",
                "the sandbox may be overloaded or unreachable; rerun, or raise the timeout",
            )

    def _exit_message(self, exit_info: ProcessExit) -> str:
        if isinstance(exit_info.error, SandboxTimeout):
            return f"the sandbox reached its timeout ({self.timeout_s} s, --e2b-timeout) and was stopped"
        if isinstance(exit_info.error, ConnectionLost):
            return f"lost the connection to the sandbox: {exit_info.error}"
        tail = "; ".join(self.stderr_tail[-3:])
        return f"the sandbox worker died ({exit_info.describe()})" + (f": {self.masker.mask(tail)}" if tail else "")

    def _worker_error(self, message: dict[str, Any]) -> str:
        stage, text = message.get("stage"), self.masker.mask(str(message.get("message")))
        if stage == "install":
            return f"installing osiris in the sandbox failed: {text}"
        return f"the sandbox worker failed ({stage}): {text}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
