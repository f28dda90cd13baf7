"""The sandbox seam: what the host needs from a sandbox, and the errors a transport raises.

Two implementations: `runtime.e2b.host.sdk.E2BTransport` (the E2B cloud through the `e2b` SDK)
and `runtime.e2b.host.local.LocalTransport` (a worker process in an empty temporary directory,
used by tests and CI). The host proxy only talks to these protocols, so every fault path is
exercised on the local transport and the real one needs only its own thin contract tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from osiris.runtime.backoff import retry

__all__ = [
    "ConnectionLost",
    "ProcessExit",
    "RemoteProcess",
    "Sandbox",
    "SandboxSpec",
    "SandboxTimeout",
    "Transport",
    "TransportError",
    "UploadFile",
    "with_retries",
]

log = logging.getLogger("osiris.e2b")
T = TypeVar("T")


class TransportError(Exception):
    """The sandbox could not be reached or did not do what was asked.

    `transient` errors (rate limits, 5xx, connection resets) are worth retrying; the message
    must be safe to show (transports mask what the SDK reports before raising).
    """

    def __init__(self, message: str, *, transient: bool = False, hint: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.hint = hint


class SandboxTimeout(TransportError):
    """The sandbox reached its lifetime (`--e2b-timeout`) and was stopped by the provider."""


class ConnectionLost(TransportError):
    """The stream to the worker broke while the worker may still be running."""


@dataclass(frozen=True)
class SandboxSpec:
    template: str | None
    timeout_s: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadFile:
    """One file to put in the sandbox: `remote` is an absolute sandbox path."""

    remote: str
    data: bytes | Path


@dataclass(frozen=True)
class ProcessExit:
    """How a worker process ended: an exit code, or the transport error that ended the stream."""

    code: int | None
    error: TransportError | None = None

    def describe(self) -> str:
        if self.error is not None:
            return str(self.error)
        if self.code is not None and self.code < 0:
            return f"killed by signal {-self.code}"
        if self.code is not None and self.code > 128:
            return f"exit code {self.code} (signal {self.code - 128})"
        return f"exit code {self.code}"


class RemoteProcess(Protocol):
    """A worker started in the sandbox; its output arrives through the callbacks given to start."""

    def send(self, data: str) -> None:
        """Write to the worker's stdin; raises ConnectionLost when the stream is gone."""

    def poll(self) -> ProcessExit | None:
        """The exit, once the process has ended and its output has been delivered; else None."""

    def kill(self) -> None:
        """Stop the worker now (idempotent)."""


class Sandbox(Protocol):
    id: str
    root: str
    """Absolute sandbox directory this run owns (job files, work dir, scratch)."""
    python: str
    """The interpreter command in the sandbox."""
    cache_dir: str | None
    """Where a custom template (or the local cache) keeps installed builds; None if nowhere."""

    def upload(self, files: list[UploadFile]) -> int:
        """Write files (parents created); returns bytes sent. Raises TransportError."""

    def exists(self, path: str) -> bool: ...

    def download(self, remote: str, local: Path, limit: int) -> int:
        """Copy a regular sandbox file to the local path (which the caller renames); returns bytes.

        Raises TransportError, having written at most `limit` + 1 bytes, when the file is
        larger than `limit`; the local transport also refuses a file reached through a
        symbolic link (its "sandbox" is this machine's file system).
        """

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: str,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
    ) -> RemoteProcess: ...

    def kill(self) -> None:
        """Destroy the sandbox (idempotent, never raises)."""

    def describe(self) -> dict[str, Any]:
        """Non-secret facts for artifacts/e2b.json (id, template, where it lives)."""


class Transport(Protocol):
    name: str

    def create(self, spec: SandboxSpec) -> Sandbox:
        """A new, running sandbox. Raises TransportError (transient ones are retried)."""


def with_retries(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int,
    backoff_s: float,
    on_retry: Callable[[int, TransportError, float], None] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Run `action`, retrying transient TransportErrors with exponential backoff.

    `attempts` counts every call, the first included (E2BOptions.retries, default 3: up to 3
    calls, waiting `backoff_s`, then twice that; runtime.backoff's formula, uncapped). A
    non-transient error propagates at once; a transient one that outlasts the attempts is
    re-raised with "(gave up after N attempts)" appended when there was more than one.
    """
    total = max(1, attempts)

    def retried(attempt: int, error: Exception, delay: float) -> None:
        log.warning("%s failed (attempt %d of %d): %s; retrying in %.2f s", what, attempt, total, error, delay)
        if on_retry is not None:
            on_retry(attempt, cast(TransportError, error), delay)  # only transient TransportErrors retry

    try:
        return retry(action, _transient, attempts=total, base=backoff_s, sleep=sleep, on_retry=retried)
    except TransportError as error:
        if error.transient and total > 1:
            raise type(error)(f"{error} (gave up after {total} attempts)", transient=True, hint=error.hint) from error
        raise


def _transient(error: BaseException) -> bool:
    return isinstance(error, TransportError) and error.transient
