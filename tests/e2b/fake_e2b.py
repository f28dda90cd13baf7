"""A stand-in for `e2b.Sandbox` that runs commands on this machine, for the E2B transport's tests.

It implements only what `runtime.e2b.host.sdk` calls, returns and raises the SDK's own types
(`CommandResult`, `CommandExitException`, `SandboxException`), and checks every call
against the real SDK signatures (`inspect.signature(...).bind`), so a call the pinned SDK
would reject fails here too. Stdout reaches `wait(on_stdout=...)` in small, uneven chunks,
the way envd streams it, to exercise the host's line reassembly.
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import e2b
from e2b.sandbox_sync.commands.command import Commands
from e2b.sandbox_sync.filesystem.filesystem import Filesystem

CALLS: list[tuple[str, dict[str, Any]]] = []
"""(call, keyword arguments) of every SDK call, in order."""
SENT: list[tuple[str, bytes]] = []
"""What crossed into the sandbox: ("upload:<path>", bytes), ("command", text), ("stdin", bytes)."""


def _check(real: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> None:
    inspect.signature(real).bind(*args, **kwargs)  # TypeError if the real SDK would reject it
    CALLS.append((name, dict(kwargs)))


class FakeSandbox:
    drop_after_lines: int | None = None
    """When set, the command stream raises SandboxException after this many stdout chunks."""

    def __init__(self, template: str | None) -> None:
        self.sandbox_id = "fake-sbx-1"
        self.template = template
        self.files = _Files()
        self.commands = _Commands()
        self.killed = False

    @classmethod
    def create(
        cls,
        template: str | None = None,
        timeout: int | None = None,
        metadata: dict | None = None,
        envs: dict | None = None,
        **opts: Any,
    ) -> FakeSandbox:
        _check(
            e2b.Sandbox.create,
            "Sandbox.create",
            template=template,
            timeout=timeout,
            metadata=metadata,
            envs=envs,
            **opts,
        )
        return cls(template)

    def kill(self, **opts: Any) -> bool:
        _check(e2b.Sandbox.kill, "Sandbox.kill", self, **opts)
        self.killed = True
        for handle in self.commands.handles:
            handle.kill()
        return True


class _Files:
    def write_files(self, files: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
        _check(Filesystem.write_files, "files.write_files", self, files, **kwargs)
        for entry in files:
            path = Path(entry["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            data = entry["data"]
            data = data.read() if hasattr(data, "read") else data
            SENT.append((f"upload:{path}", data))
            path.write_bytes(data)
        return []

    def exists(self, path: str, **kwargs: Any) -> bool:
        _check(Filesystem.exists, "files.exists", self, path, **kwargs)
        return os.path.exists(path)

    def read(self, path: str, format: str = "text", **kwargs: Any) -> Any:
        _check(Filesystem.read, "files.read", self, path, format=format, **kwargs)
        if not os.path.exists(path):
            raise e2b.NotFoundException(f"file {path} not found")
        data = Path(path).read_bytes()
        if format == "stream":
            return iter([data[i : i + 1000] for i in range(0, len(data), 1000)])
        return data if format == "bytes" else data.decode()


class _Commands:
    def __init__(self) -> None:
        self.handles: list[FakeHandle] = []

    def run(
        self,
        cmd: str,
        background: bool | None = None,
        envs: dict | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: Any = None,
        on_stderr: Any = None,
        stdin: bool | None = None,
        timeout: float | None = 60,
        request_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        _check(
            Commands.run,
            "commands.run",
            self,
            cmd,
            background=background,
            envs=envs,
            user=user,
            cwd=cwd,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            stdin=stdin,
            timeout=timeout,
            request_timeout=request_timeout,
            **kwargs,
        )
        SENT.append(("command", cmd.encode()))
        env = {"PATH": "/usr/bin:/bin", "HOME": cwd or "/tmp", **(envs or {})}
        if not background:
            done = subprocess.run(
                ["/bin/bash", "-c", cmd],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=timeout or None,
                check=False,
            )
            if done.returncode:
                raise e2b.CommandExitException(
                    stderr=done.stderr, stdout=done.stdout, exit_code=done.returncode, error=None
                )
            return e2b.CommandResult(stderr=done.stderr, stdout=done.stdout, exit_code=0, error=None)
        # Like a login shell whose profile prints a banner before the command runs.
        handle = FakeHandle(
            subprocess.Popen(
                ["/bin/bash", "-c", f"echo 'Welcome to the sandbox!'; {cmd}"],
                env=env,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
        self.handles.append(handle)
        return handle


class FakeHandle:
    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.pid = popen.pid

    def wait(self, on_pty: Any = None, on_stdout: Any = None, on_stderr: Any = None) -> Any:
        _check(e2b.CommandHandle.wait, "handle.wait", self, on_pty=on_pty, on_stdout=on_stdout, on_stderr=on_stderr)
        errors: list[str] = []
        reader = threading.Thread(target=self._drain, args=(self.popen.stderr, on_stderr, errors), daemon=True)
        reader.start()
        sizes, index, chunks = (1, 7, 64, 3, 500), 0, 0
        try:
            while True:
                chunk = self.popen.stdout.read1(sizes[index % len(sizes)])
                index += 1
                if not chunk:
                    break
                chunks += 1
                if FakeSandbox.drop_after_lines is not None and chunks > FakeSandbox.drop_after_lines:
                    raise e2b.SandboxException("stream reset by peer")
                if on_stdout:
                    on_stdout(chunk.decode("utf-8", errors="replace"))
        except e2b.SandboxException:
            self.kill()
            reader.join()
            raise
        code = self.popen.wait()
        reader.join()
        self._close()
        if code:
            raise e2b.CommandExitException(stderr="".join(errors), stdout=None, exit_code=code, error=None)
        return e2b.CommandResult(stderr="".join(errors), stdout=None, exit_code=0, error=None)

    @staticmethod
    def _drain(stream: Any, callback: Any, into: list[str]) -> None:
        for line in iter(stream.readline, b""):
            text = line.decode("utf-8", errors="replace")
            into.append(text)
            if callback:
                callback(text)
        stream.close()

    def send_stdin(self, data: str | bytes, request_timeout: float | None = None) -> None:
        _check(e2b.CommandHandle.send_stdin, "handle.send_stdin", self, data, request_timeout=request_timeout)
        SENT.append(("stdin", data.encode() if isinstance(data, str) else data))
        try:
            self.popen.stdin.write(data.encode() if isinstance(data, str) else data)
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError) as error:
            raise e2b.SandboxException(f"stdin closed: {error}") from None

    def kill(self) -> bool:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self._close()
        return True

    def _close(self) -> None:
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
