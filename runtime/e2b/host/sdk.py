"""The E2B transport: the sandbox interface on the `e2b` SDK (pinned to 2.63.0 in pyproject.toml).

Calls made, and nothing else: `Sandbox.create(template, timeout, metadata)` (API key from
`E2B_API_KEY`, read by the SDK), `files.write_files` / `files.exists` /
`files.read(format="stream")`, `commands.run(cmd, background=True, envs=...,
stdin=True, timeout=0)` whose handle streams stdout/stderr through `wait(on_stdout=...,
on_stderr=...)` and takes input through `send_stdin`, and `kill()`. The worker's
environment (the fixed variables and the `--e2b-env` allow-list) goes only in `envs=` of that
one command, never in `Sandbox.create(envs=...)`; the connections go only through
`send_stdin` (docs/e2b.md; tests/e2b/test_no_secret_on_the_wire.py checks the wire).

SDK exceptions are translated to `TransportError`s: rate limits, busy service, unreachable
sandbox and network errors are transient (retried by the host); authentication, invalid
arguments, unknown templates and local file errors (a host file missing or unwritable) are not.
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from osiris.runtime.e2b.host.transport import (
    ConnectionLost,
    ProcessExit,
    SandboxSpec,
    SandboxTimeout,
    TransportError,
    UploadFile,
)

__all__ = ["E2BProcess", "E2BSandbox", "E2BTransport", "exit_code", "translate"]

SANDBOX_ROOT = "/home/user/osiris"
TEMPLATE_CACHE = "/opt/osiris/site"
"""Where the custom template (docs/e2b.md) keeps installed builds of this project."""


def _sdk() -> Any:
    try:
        import e2b
    except ImportError:  # pragma: no cover - e2b is a declared dependency
        raise TransportError("the e2b package is not installed", hint="pip install 'e2b==2.63.0'") from None
    return e2b


def translate(error: BaseException, doing: str) -> TransportError:
    """An SDK exception as a TransportError with a message a user can act on."""
    if isinstance(error, TransportError):
        return error
    e2b = _sdk()
    exc = e2b.exceptions if hasattr(e2b, "exceptions") else e2b
    name = type(error).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else name
    message = f"{doing} failed: {name}: {text}"
    if isinstance(error, getattr(exc, "AuthenticationException", ())):
        return TransportError(message, hint="set E2B_API_KEY to a valid key (https://e2b.dev/dashboard)")
    if isinstance(error, getattr(exc, "TemplateException", ())) or isinstance(
        error, getattr(exc, "NotFoundException", ())
    ):
        return TransportError(message, hint="check --e2b-template; docs/e2b.md shows how to build the osiris template")
    if isinstance(error, getattr(exc, "InvalidArgumentException", ())):
        return TransportError(message)
    if isinstance(error, getattr(exc, "SandboxNotRunningException", ())):
        return SandboxTimeout(message, hint="raise --e2b-timeout")
    transient_types = tuple(
        getattr(exc, n)
        for n in (
            "RateLimitException",
            "ServiceBusyException",
            "SandboxUnreachableException",
            "GuestUnresponsiveException",
            "TimeoutException",
        )
        if hasattr(exc, n)
    )
    if (
        isinstance(error, transient_types)
        or isinstance(error, (ConnectionError, TimeoutError))
        or _is_httpx_transport(error)
    ):
        return TransportError(message, transient=True)
    if isinstance(error, OSError) and error.filename is not None:
        # A host file that cannot be opened or written: retrying will not help.
        return TransportError(f"{doing} failed: {error.strerror or name}: {error.filename}")
    return TransportError(message)


def _is_httpx_transport(error: BaseException) -> bool:
    for module in ("httpx", "httpx2"):
        try:
            lib = __import__(module)
        except ImportError:
            continue
        if isinstance(error, getattr(lib, "TransportError", ())):
            return True
    return False


def exit_code(error: Any) -> int:
    """The worker's exit code from a `CommandExitException`, negative for a signal as locally.

    envd reports a process killed by a signal with Go's `ProcessState.ExitCode()`, which is -1
    whatever the signal, and says which one in `error` ("signal: killed", "signal: terminated",
    "signal: segmentation fault (core dumped)"): Go's names, the C library's in lower case.
    Without this a worker killed by the OOM killer read as "killed by signal 1".
    """
    code = int(error.exit_code)
    text = str(getattr(error, "error", None) or "")
    if code != -1 or not text.startswith("signal: "):
        return code
    name = text.removeprefix("signal: ").removesuffix(" (core dumped)").strip().lower()
    for number in signal.valid_signals():
        if (signal.strsignal(number) or "").lower() == name:
            return -int(number)
    return code


class E2BTransport:
    name = "e2b"

    def __init__(
        self,
        *,
        sandbox_cls: Any = None,
        root: str = SANDBOX_ROOT,
        python: str = "python3",
        cache_dir: str | None = TEMPLATE_CACHE,
    ) -> None:
        self._cls = sandbox_cls
        self.root, self.python, self.cache_dir = root, python, cache_dir

    def create(self, spec: SandboxSpec) -> E2BSandbox:
        cls = self._cls
        if cls is None:
            if not os.environ.get("E2B_API_KEY"):
                raise TransportError(
                    "E2B_API_KEY is not set",
                    hint="export E2B_API_KEY=... (https://e2b.dev/dashboard), or run with "
                    "--e2b-transport local to use a local sandbox",
                )
            cls = _sdk().Sandbox
        try:
            sandbox = cls.create(template=spec.template, timeout=spec.timeout_s, metadata=dict(spec.metadata))
        except Exception as error:  # noqa: BLE001 - translated
            raise translate(error, "creating the E2B sandbox") from None
        return E2BSandbox(sandbox, spec, self.root, self.python, self.cache_dir)


class E2BSandbox:
    def __init__(self, sandbox: Any, spec: SandboxSpec, root: str, python: str, cache_dir: str | None) -> None:
        self.sdk = sandbox
        self.id = str(getattr(sandbox, "sandbox_id", "unknown"))
        self.root, self.python, self.cache_dir = root, python, cache_dir
        self.template = spec.template
        self.deadline = time.monotonic() + spec.timeout_s
        self._killed = False

    def upload(self, files: list[UploadFile]) -> int:
        handles, entries, sent = [], [], 0
        try:
            for item in files:
                if isinstance(item.data, Path):
                    handle = open(item.data, "rb")  # noqa: SIM115 - closed below
                    handles.append(handle)
                    entries.append({"path": item.remote, "data": handle})
                    sent += item.data.stat().st_size
                else:
                    entries.append({"path": item.remote, "data": item.data})
                    sent += len(item.data)
            self.sdk.files.write_files(entries)
        except Exception as error:  # noqa: BLE001
            raise translate(error, f"uploading {len(files)} file(s) to the sandbox") from None
        finally:
            for handle in handles:
                handle.close()
        return sent

    def exists(self, path: str) -> bool:
        try:
            return bool(self.sdk.files.exists(path))
        except Exception as error:  # noqa: BLE001
            raise translate(error, f"checking {path} in the sandbox") from None

    def download(self, remote: str, local: Path, limit: int) -> int:
        received = 0
        try:
            stream = self.sdk.files.read(remote, format="stream")
            try:
                with open(local, "wb") as out:
                    for chunk in stream:
                        received += len(chunk)
                        if received > limit:
                            raise TransportError(f"{remote} in the sandbox is larger than the {limit} bytes announced")
                        out.write(chunk)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        except Exception as error:  # noqa: BLE001
            raise translate(error, f"downloading {remote}") from None
        return received

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: str,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
    ) -> E2BProcess:
        # The working directory exists only if an input file was uploaded into it: create it here.
        command = f"mkdir -p {shlex.quote(cwd)} && cd {shlex.quote(cwd)} && exec {shlex.join(argv)}"
        try:
            handle = self.sdk.commands.run(command, background=True, envs=env, stdin=True, timeout=0)
        except Exception as error:  # noqa: BLE001
            raise translate(error, "starting the worker") from None
        return E2BProcess(handle, on_stdout, on_stderr, self)

    def kill(self) -> None:
        if self._killed:
            return
        self._killed = True
        try:
            self.sdk.kill()
        except Exception:  # noqa: BLE001 - the sandbox may be gone already; E2B reaps it at its timeout
            pass

    def describe(self) -> dict[str, Any]:
        return {
            "transport": "e2b",
            "sandbox_id": self.id,
            "template": self.template,
            "root": self.root,
            "cache_dir": self.cache_dir,
        }


class E2BProcess:
    """The background worker command; a thread drains its output stream into the callbacks."""

    def __init__(
        self,
        handle: Any,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
        sandbox: E2BSandbox,
    ) -> None:
        self.handle, self.sandbox = handle, sandbox
        self._exit: ProcessExit | None = None
        self._thread = threading.Thread(target=self._wait, args=(on_stdout, on_stderr), name="e2b-stream", daemon=True)
        self._thread.start()

    def _wait(self, on_stdout: Callable[[str], None], on_stderr: Callable[[str], None]) -> None:
        e2b = _sdk()
        try:
            result = self.handle.wait(on_stdout=on_stdout, on_stderr=on_stderr)
            self._exit = ProcessExit(int(getattr(result, "exit_code", 0) or 0))
        except e2b.CommandExitException as error:
            self._exit = ProcessExit(exit_code(error))
        except Exception as error:  # noqa: BLE001 - the stream broke: decide why
            if time.monotonic() >= self.sandbox.deadline - 1:
                self._exit = ProcessExit(None, SandboxTimeout("the sandbox reached its timeout and was stopped"))
            else:
                self._exit = ProcessExit(None, ConnectionLost(str(translate(error, "the worker stream"))))

    def send(self, data: str) -> None:
        try:
            self.handle.send_stdin(data)
        except Exception as error:  # noqa: BLE001
            raise ConnectionLost(str(translate(error, "sending to the worker"))) from None

    def poll(self) -> ProcessExit | None:
        return None if self._thread.is_alive() else self._exit

    def kill(self) -> None:
        try:
            self.handle.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
