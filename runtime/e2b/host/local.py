"""The local transport: a "sandbox" that is an empty temporary directory and a separate process.

It behaves like the E2B transport where it matters for correctness: the worker is another
process with its own working directory, it sees only the environment the host hands it
(a fixed PATH/HOME/LANG plus the allow-list and the connection payload, nothing inherited),
files move only through upload/download, and the sandbox dies when its lifetime elapses.
`Faults` injects the failures the cloud can produce (create or upload refused, worker
killed, connection dropped, worker frozen) so every error path is tested without a key.
"""

from __future__ import annotations

import codecs
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from osiris.runtime.e2b.host.transport import (
    ConnectionLost,
    ProcessExit,
    SandboxSpec,
    SandboxTimeout,
    TransportError,
    UploadFile,
)

__all__ = ["Faults", "LocalSandbox", "LocalTransport"]


@dataclass
class Faults:
    """Failures to inject (tests only). Counters go down as faults fire."""

    create_failures: int = 0
    """Transient failures before `create` succeeds."""
    create_refused: bool = False
    """`create` fails permanently (like an invalid API key)."""
    upload_failures: int = 0
    upload_refused: bool = False
    download_failures: int = 0
    trigger: str | None = None
    """A substring of a worker output line; when it passes, `action` happens."""
    action: Literal["kill", "drop", "stall", "expire"] = "kill"
    """kill: the worker dies; drop: the stream breaks; stall: the worker freezes (SIGSTOP) and
    goes silent; expire: the sandbox's lifetime ends now, as if `--e2b-timeout` elapsed."""

    def take(self, name: str) -> bool:
        left = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
            return True
        return False


class LocalTransport:
    name = "local"

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        cache_dir: Path | None = None,
        python: str = sys.executable,
        faults: Faults | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.cache_dir = cache_dir
        """Plays the custom template: installed builds persist here between runs (None: never)."""
        self.python = python
        self.faults = faults or Faults()
        self.created: list[LocalSandbox] = []

    def create(self, spec: SandboxSpec) -> LocalSandbox:
        if self.faults.create_refused:
            raise TransportError(
                "the sandbox provider refused to create a sandbox (injected)",
                hint="check the API key and the template name",
            )
        if self.faults.take("create_failures"):
            raise TransportError("sandbox creation failed transiently (injected)", transient=True)
        root = Path(tempfile.mkdtemp(prefix="osiris-sandbox-", dir=self.base_dir)).resolve()
        sandbox = LocalSandbox(root, spec, self.python, self.cache_dir, self.faults)
        self.created.append(sandbox)
        return sandbox


class LocalSandbox:
    def __init__(self, root: Path, spec: SandboxSpec, python: str, cache_dir: Path | None, faults: Faults) -> None:
        self.path = root
        self.id = f"local-{root.name}"
        self.root = str(root)
        self.python = python
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.template = spec.template
        self.faults = faults
        self.killed = False
        self.expired = threading.Event()
        self._processes: list[LocalProcess] = []
        self._timer = threading.Timer(spec.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    # -- files -----------------------------------------------------------------------------
    def _local(self, remote: str) -> Path:
        path = Path(remote)
        allowed = [self.path] + ([Path(self.cache_dir)] if self.cache_dir else [])
        if (
            not path.is_absolute()
            or ".." in path.parts
            or "\0" in remote
            or not any(path == a or a in path.parents for a in allowed)
        ):
            raise TransportError(f"{remote!r} is outside the sandbox")
        return path

    def upload(self, files: list[UploadFile]) -> int:
        self._alive()
        if self.faults.upload_refused:
            raise TransportError("upload refused by the sandbox (injected)")
        if self.faults.take("upload_failures"):
            raise TransportError("upload failed transiently: connection reset (injected)", transient=True)
        sent = 0
        for item in files:
            target = self._local(item.remote)
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(item.data, Path):
                shutil.copyfile(item.data, target)
                sent += target.stat().st_size
            else:
                target.write_bytes(item.data)
                sent += len(item.data)
        return sent

    def exists(self, path: str) -> bool:
        self._alive()
        return self._local(path).exists()

    def download(self, remote: str, local: Path, limit: int) -> int:
        self._alive()
        if self.faults.take("download_failures"):
            raise TransportError("download failed transiently (injected)", transient=True)
        source = self._local(remote)
        if self.path not in source.parents:
            raise TransportError(f"{remote!r} is not a file of this sandbox")
        fd = _open_beneath(self.path, source.relative_to(self.path).parts, remote)
        received = 0
        with os.fdopen(fd, "rb") as handle, open(local, "wb") as out:
            while chunk := handle.read(1 << 20):
                received += len(chunk)
                if received > limit:
                    raise TransportError(f"{remote} in the sandbox is larger than the {limit} bytes announced")
                out.write(chunk)
        return received

    # -- processes -------------------------------------------------------------------------
    def base_env(self) -> dict[str, str]:
        """What every sandbox process gets besides what the host passes: fixed, not inherited."""
        home = self.path / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(home),
        }

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: str,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
    ) -> LocalProcess:
        self._alive()
        Path(cwd).mkdir(parents=True, exist_ok=True)
        process = LocalProcess(argv, {**self.base_env(), **env}, cwd, on_stdout, on_stderr, self)
        self._processes.append(process)
        return process

    def kill(self) -> None:
        self._timer.cancel()
        self.killed = True
        for process in self._processes:
            process.kill()
        shutil.rmtree(self.path, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {
            "transport": "local",
            "sandbox_id": self.id,
            "root": self.root,
            "template": self.template,
            "cache_dir": self.cache_dir,
        }

    def _alive(self) -> None:
        if self.expired.is_set():
            raise SandboxTimeout("the sandbox reached its timeout and was stopped")
        if self.killed:
            raise TransportError("the sandbox was killed")

    def _expire(self) -> None:
        self.expired.set()
        for process in self._processes:
            process.kill()


def _open_beneath(root: Path, parts: tuple[str, ...], remote: str) -> int:
    """Open a regular file below `root` without following any symbolic link on the way.

    The local "sandbox" is a directory of this machine, so a link planted there (`out/x.csv ->
    ~/.ssh/id_rsa`, or `out -> /etc`) would make the host copy one of its own files into an
    output. Each component is opened relative to its parent with O_NOFOLLOW (no window for a
    swap between a check and the open), and the result must be a regular file (O_NONBLOCK, so
    a FIFO cannot stall the download).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
    except OSError as error:
        raise TransportError(f"{remote} cannot be read: {error.strerror}") from None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                child = os.open(part, flags | (os.O_NONBLOCK if last else os.O_DIRECTORY), dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise TransportError(
                        f"{remote} is reached through a symbolic link in the sandbox; refused"
                    ) from None
                if error.errno == errno.ENOENT:
                    raise TransportError(f"{remote} does not exist in the sandbox") from None
                raise TransportError(f"{remote} cannot be read: {error.strerror}") from None
            os.close(fd)
            fd = child
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TransportError(f"{remote} is not a regular file in the sandbox; refused")
        os.set_blocking(fd, True)
        result, fd = fd, -1
        return result
    finally:
        if fd >= 0:
            os.close(fd)


class LocalProcess:
    """A worker process; output goes to the callbacks from reader threads, like the E2B stream."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
        sandbox: LocalSandbox,
    ) -> None:
        self.sandbox = sandbox
        self.faults = sandbox.faults
        self.dropped = False
        self._lock = threading.Lock()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(
                target=self._pump, args=(self.popen.stdout, on_stdout, True), daemon=True, name="local-stdout"
            ),
            threading.Thread(
                target=self._pump,
                args=(self.popen.stderr, on_stderr, False),
                daemon=True,
                name="local-stderr",
            ),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Any, deliver: Callable[[str], None], is_stdout: bool) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            text = decoder.decode(chunk)
            if self.dropped:
                continue
            if not (is_stdout and self.faults.trigger):
                deliver(text)
                continue
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                if self.dropped:
                    break
                deliver(line + "\n")
                if self.faults.trigger and self.faults.trigger in line:
                    self._fire()
        stream.close()

    def _fire(self) -> None:
        action = self.faults.action
        self.faults.trigger = None
        if action == "kill":
            self.kill()
        elif action == "drop":
            self.dropped = True
        elif action == "expire":
            self.sandbox._expire()
        elif action == "stall":
            self.dropped = True
            try:
                os.killpg(self.popen.pid, signal.SIGSTOP)
            except OSError:
                pass

    def send(self, data: str) -> None:
        if self.dropped:
            raise ConnectionLost("the connection to the sandbox dropped")
        with self._lock:
            try:
                assert self.popen.stdin is not None
                self.popen.stdin.write(data.encode("utf-8"))
                self.popen.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as error:
                raise ConnectionLost(f"cannot write to the worker: {error}") from None

    def poll(self) -> ProcessExit | None:
        if self.sandbox.expired.is_set():
            return ProcessExit(None, SandboxTimeout("the sandbox reached its timeout and was stopped"))
        if self.dropped and self.faults.action == "drop":
            return ProcessExit(None, ConnectionLost("the connection to the sandbox dropped"))
        code = self.popen.poll()
        if code is None or any(reader.is_alive() for reader in self._readers):
            return None
        return ProcessExit(code)

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        try:
            if self.popen.stdin is not None:
                self.popen.stdin.close()
        except OSError:
            pass
