"""A local stand-in for envd (the agent in every E2B sandbox), so the unmodified `e2b` SDK runs on the wire.

Why: `tests/e2b/fake_e2b.py` replaces `e2b.Sandbox` with a Python class, so the SDK's own
network code (connect-rpc over HTTP, JSON codec, multipart/octet-stream uploads, streamed
downloads, its error mapping and health probes) never runs in those tests. Here the real
`e2b.Sandbox` (pinned e2b==2.63.0) talks HTTP to this server on 127.0.0.1, which behaves like
envd where the E2B transport depends on it (read from e2b-dev/infra packages/envd):

- `process.Process` (connect-rpc, the SDK's generated ASGI app): `Start` streams a start event
  with the pid, stdout/stderr chunks of up to 32 KiB as read, keepalives, then an end event
  whose exit code is Go's `ProcessState.ExitCode()` -- so **-1 with error "signal: killed"** for
  a process killed by a signal; the process is a real subprocess with `PATH`, `HOME`, `USER`,
  `LOGNAME` and the request's `envs`, nothing inherited; it outlives a client that stops reading
  (a background handle); the command timeout (`connect-timeout-ms`) kills it. `SendInput`
  writes to its stdin, `SendSignal` signals its pid (SIGKILL/SIGTERM stop the output, as in
  envd), `CloseStdin`, `List`.
- `filesystem.Filesystem`: `Stat` (what `files.exists` calls), `MakeDir`, `Remove`.
- `GET /files` (download, streamed), `POST /files` (multipart or application/octet-stream;
  the SDK picks octet-stream for file objects when envd is >= 0.5.7, which the debug fallback
  version 99.99.99 is), `GET /health` (204).

Sandbox paths are used as they come, confined to the scratch directory (and any template
directories given): point the transport's `root` inside `EnvdStandIn.home`.

Faults, for the failure scenarios (set before the run): `kill_on(text)` SIGKILLs the process
whose stdout shows `text` (the kernel's OOM killer), `freeze_on(text)` SIGSTOPs it (a step that
hangs), `drop_on(text)` cuts its stream's connection while the process runs on, and
`lifetime_s` ends the sandbox that many seconds after the first request (as E2B does at
`timeout`): its processes are killed, open streams cut, and every later request answered
with the proxy's 502 "sandbox ... was not found".

Every request the SDK sends is kept in `requests` (method, path, query, headers, body) for
tests that inspect the wire. The SDK reaches this server through its deprecated debug
switches `E2B_DEBUG=true` (no control plane: `Sandbox.create` returns `debug_sandbox_id`,
`kill()` is a no-op) and `E2B_SANDBOX_URL`; only `pointed_at` (the `envd` fixture of tests/e2b/conftest.py) sets them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import json
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.filesystem import filesystem_pb as fs_pb
from e2b.envd.filesystem.filesystem_connect import Filesystem, FilesystemASGIApplication
from e2b.envd.process import process_pb as pb
from e2b.envd.process.process_connect import Process, ProcessASGIApplication
from protobuf import Oneof

__all__ = ["SANDBOX_ID", "EnvdStandIn", "RecordedRequest", "pointed_at"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHUNK = 32 << 10
"""envd reads process output in chunks of up to 32 KiB (handler.go stdChunkSize)."""
SANDBOX_ID = "debug_sandbox_id"
"""The id the SDK gives a sandbox it creates with E2B_DEBUG=true."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the SDK sent it."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def messages(self) -> list[Any]:
        """The connect-rpc JSON messages of the body (unary: the body; streams: each envelope)."""
        content_type = dict(self.headers).get("content-type", "")
        if content_type.startswith("application/connect+json"):
            found, data = [], self.body
            while len(data) >= 5:
                flags, size = data[0], int.from_bytes(data[1:5], "big")
                if not flags & 0x02:  # 0x02 marks the end-of-stream envelope
                    found.append(json.loads(data[5 : 5 + size]))
                data = data[5 + size :]
            return found
        if content_type.startswith("application/json") and self.body:
            return [json.loads(self.body)]
        return []

    def texts(self) -> list[str]:
        """Every readable form of what was sent: the raw body, the query, header values, and
        each string of a JSON message base64-decoded where it decodes (the JSON codec sends
        `bytes` fields such as stdin in base64)."""
        found = [self.body.decode("utf-8", "replace"), unquote(self.query), *(v for _, v in self.headers)]
        for message in self.messages():
            for text in _strings(message):
                found.append(text)
                try:
                    found.append(base64.b64decode(text, validate=True).decode("utf-8", "replace"))
                except ValueError:
                    pass
        return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass(eq=False)
class _Exchange:
    """One request in flight; `cut` makes its next response write drop the connection."""

    cut: bool = False


_EXCHANGE: contextvars.ContextVar[_Exchange] = contextvars.ContextVar("envd_exchange")


class _ConnectionCut(Exception):
    """Raised into the ASGI server to drop a connection mid-response (uvicorn closes the socket)."""


@dataclass
class _Process:
    pid: int
    proc: asyncio.subprocess.Process
    config: pb.ProcessConfig
    tag: str | None
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    output_stopped: bool = False
    watch: str = ""
    """The tail of its stdout, to find fault triggers that span two chunks."""


class EnvdStandIn:
    """envd on 127.0.0.1 (see the module docstring); `start()` it, point the SDK at `url`, `stop()` it."""

    def __init__(self, scratch: Path, *, templates: tuple[Path, ...] = ()) -> None:
        self.scratch = scratch.resolve()
        self.home = self.scratch / "home" / "user"
        self.home.mkdir(parents=True, exist_ok=True)
        self.templates = tuple(t.resolve() for t in templates)
        """Directories outside the scratch one that sandbox paths may name (a template's build cache)."""
        self.allowed = (self.scratch, *self.templates)
        self.requests: list[RecordedRequest] = []
        self.started: list[tuple[int, pb.ProcessConfig]] = []
        """(pid, config) of every process started, in order."""
        self.errors: list[str] = []
        """Unexpected exceptions of the stand-in itself (a test of the SDK should see none)."""
        self.fired: list[tuple[str, str]] = []
        """(action, trigger) of every fault fired, in order."""
        self.lifetime_s: float | None = None
        self.expired = False
        self.url = ""
        self._faults: dict[str, str] = {}
        self._processes: dict[int, _Process] = {}
        self._exchanges: set[_Exchange] = set()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._first_request: float | None = None
        process_app = ProcessASGIApplication(_ProcessService(self))
        files_app = FilesystemASGIApplication(_FilesystemService(self))
        self._routes: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            process_app.path: process_app,
            files_app.path: files_app,
        }

    # -- faults --------------------------------------------------------------------------------
    def kill_on(self, text: str) -> None:
        """SIGKILL the process whose stdout shows `text`, as the OOM killer would."""
        self._faults[text] = "kill"

    def freeze_on(self, text: str) -> None:
        """SIGSTOP the process whose stdout shows `text`: it hangs, silent."""
        self._faults[text] = "freeze"

    def drop_on(self, text: str) -> None:
        """Cut the connection of that process's output stream; the process runs on."""
        self._faults[text] = "drop"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> EnvdStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app, lifespan="off", log_level="critical", interface="asgi3", access_log=False, http="h11", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="envd-stand-in", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the envd stand-in did not start")
            time.sleep(0.01)
        return self

    def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None

        asyncio.run(self._server.serve(sockets=[sock]))

    def stop(self) -> None:
        """Kill every process still running and stop the server."""
        for process in list(self._processes.values()):
            _kill_group(process.pid, signal.SIGKILL)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def processes(self) -> dict[int, int | None]:
        """pid -> exit code (None while running) of every process started."""
        return {pid: p.proc.returncode for pid, p in self._processes.items()}

    # -- paths ---------------------------------------------------------------------------------
    def local(self, path: str) -> Path:
        """The file a sandbox path names; relative paths are under the home directory."""
        target = Path(os.path.normpath(self.home / path))
        if not any(target == root or root in target.parents for root in self.allowed):
            raise ConnectError(Code.PERMISSION_DENIED, f"path '{path}' is outside the stand-in's directories")
        return target

    # -- the ASGI app --------------------------------------------------------------------------
    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])
        with self._lock:
            self.requests.append(
                RecordedRequest(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body)
            )
            if self._first_request is None:
                self._first_request = time.monotonic()
                if self.lifetime_s is not None:
                    asyncio.get_running_loop().call_later(self.lifetime_s, self._expire)
        if self.expired:
            await _json(send, 502, {"code": 502, "message": f"The sandbox {SANDBOX_ID} was not found"})
            return
        exchange = _Exchange()
        _EXCHANGE.set(exchange)
        self._exchanges.add(exchange)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def guarded(message: Message) -> None:
            if exchange.cut:
                raise _ConnectionCut("the stand-in cut this connection")
            await send(message)

        try:
            path = scope["path"]
            service = path.rsplit("/", 1)[0]
            if service in self._routes:
                await self._routes[service](scope, replay, guarded)
            elif path == "/files" and scope["method"] == "GET":
                await self._download(scope, guarded)
            elif path == "/files" and scope["method"] == "POST":
                await self._upload(scope, headers, body, guarded)
            elif path == "/health":
                await guarded({"type": "http.response.start", "status": 204, "headers": []})
                await guarded({"type": "http.response.body", "body": b""})
            else:
                await _json(guarded, 404, {"code": 404, "message": f"no route {path}"})
        except _ConnectionCut:
            raise
        except Exception as error:
            self.errors.append(f"{scope['method']} {scope['path']}: {type(error).__name__}: {error}")
            raise
        finally:
            self._exchanges.discard(exchange)

    def _expire(self) -> None:
        """The sandbox's end of life: processes killed, open streams cut, later requests 502."""
        self.expired = True
        for exchange in list(self._exchanges):
            exchange.cut = True
        for process in self._processes.values():
            _kill_group(process.pid, signal.SIGKILL)
            process.events.put_nowait(("cut", None))

    # -- /files --------------------------------------------------------------------------------
    async def _download(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        try:
            target = self.local(query.get("path", [""])[0])
        except ConnectError as error:
            await _json(send, 403, {"code": 403, "message": error.message})
            return
        if not target.is_file():
            await _json(send, 404, {"code": 404, "message": f"path '{target}' does not exist"})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        with open(target, "rb") as handle:
            while chunk := handle.read(CHUNK):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _upload(self, scope: Scope, headers: tuple[tuple[str, str], ...], body: bytes, send: Send) -> None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        content_type = dict(headers).get("content-type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                parts = _multipart(content_type, body)
                if len(parts) == 1 and "path" in query:
                    parts = [(query["path"][0], parts[0][1])]
            else:
                parts = [(query.get("path", [""])[0], body)]
            written = []
            for path, data in parts:
                target = self.local(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append({"name": target.name, "type": "file", "path": str(target)})
        except ConnectError as error:
            await _json(send, 403, {"code": 403, "message": error.message})
            return
        except (OSError, ValueError) as error:
            await _json(send, 400, {"code": 400, "message": str(error)})
            return
        await _json(send, 200, written)

    # -- processes -----------------------------------------------------------------------------
    async def spawn(self, request: pb.StartRequest, timeout_ms: float | None) -> _Process:
        config = request.process or pb.ProcessConfig()
        cwd = self.local(config.cwd) if config.has_field("cwd") and config.cwd else self.home
        if not cwd.is_dir():
            raise ConnectError(Code.INVALID_ARGUMENT, f"cwd '{cwd}' does not exist")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "USER": "user", "LOGNAME": "user"}
        env.update(dict(config.envs))
        stdin = not request.has_field("stdin") or request.stdin
        try:
            proc = await asyncio.create_subprocess_exec(
                config.cmd,
                *config.args,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise ConnectError(Code.INTERNAL, f"error starting process '{config.cmd}': {error}") from None
        process = _Process(proc.pid, proc, config, request.tag if request.has_field("tag") else None)
        self._processes[proc.pid] = process
        self.started.append((proc.pid, config))
        asyncio.ensure_future(self._pump(process, timeout_ms))
        return process

    async def _pump(self, process: _Process, timeout_ms: float | None) -> None:
        """Feed the process's output and its end into its event queue."""
        timer = None
        if timeout_ms is not None:
            timer = asyncio.get_running_loop().call_later(timeout_ms / 1000, _kill_group, process.pid, signal.SIGKILL)
        assert process.proc.stdout is not None and process.proc.stderr is not None
        await asyncio.gather(
            self._read(process, process.proc.stdout, "stdout"), self._read(process, process.proc.stderr, "stderr")
        )
        code = await process.proc.wait()
        if timer is not None:
            timer.cancel()
        if code < 0:  # Go: ExitCode() is -1 for a signalled process; String() is "signal: <name>"
            name = signal.strsignal(-code) or f"signal {-code}"
            end = pb.ProcessEvent.EndEvent(
                exit_code=-1, exited=False, status=f"signal: {name.lower()}", error=f"signal: {name.lower()}"
            )
        else:
            end = pb.ProcessEvent.EndEvent(exit_code=code, exited=True, status=f"exit status {code}")
            if code:
                end.error = f"exit status {code}"
        process.events.put_nowait(("end", end))

    async def _read(self, process: _Process, stream: asyncio.StreamReader, kind: str) -> None:
        while chunk := await stream.read(CHUNK):
            if not process.output_stopped:
                process.events.put_nowait((kind, chunk))
            if kind == "stdout" and self._faults:
                self._watch(process, chunk)

    def _watch(self, process: _Process, chunk: bytes) -> None:
        seen = process.watch + chunk.decode("utf-8", "replace")
        for trigger, action in list(self._faults.items()):
            if trigger not in seen:
                continue
            del self._faults[trigger]
            self.fired.append((action, trigger))
            if action == "kill":
                os.kill(process.pid, signal.SIGKILL)
            elif action == "freeze":
                _kill_group(process.pid, signal.SIGSTOP)
            elif action == "drop":  # after this chunk has gone out, as a connection reset would
                process.events.put_nowait(("cut", None))
        longest = max((len(t) for t in self._faults), default=0)
        process.watch = seen[-longest:] if longest else ""

    def process(self, selector: pb.ProcessSelector | None) -> _Process:
        match selector.selector if selector is not None else None:
            case Oneof(field="pid", value=pid) if pid in self._processes:
                return self._processes[pid]
            case Oneof(field="tag", value=tag):
                for candidate in self._processes.values():
                    if candidate.tag == tag:
                        return candidate
        raise ConnectError(Code.NOT_FOUND, f"process with {selector} not found")


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


async def _json(send: Send, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """(file name, data) of every `file` part of a multipart/form-data body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    found: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True)
            found.append((part.get_filename() or "", data if isinstance(data, bytes) else b""))
    return found


class _ProcessService(Process):
    """process.Process as envd implements it (the parts the SDK's commands API uses; the
    generated base answers UNIMPLEMENTED for the rest)."""

    def __init__(self, envd: EnvdStandIn) -> None:
        self.envd = envd

    async def start(self, request: pb.StartRequest, ctx: Any) -> AsyncIterator[pb.StartResponse]:
        process = await self.envd.spawn(request, ctx.timeout_ms)
        yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("start", pb.ProcessEvent.StartEvent(pid=process.pid))))
        interval = float(ctx.request_headers.get("keepalive-ping-interval") or 50)
        while True:
            try:
                kind, value = await asyncio.wait_for(process.events.get(), interval)
            except TimeoutError:
                yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("keepalive", pb.ProcessEvent.KeepAlive())))
                continue
            if kind == "cut":
                _EXCHANGE.get().cut = True
                raise _ConnectionCut("the connection to the sandbox was cut")
            if kind == "end":
                yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("end", value)))
                return
            data = pb.ProcessEvent.DataEvent(output=Oneof(kind, value))
            yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("data", data)))

    async def send_input(self, request: pb.SendInputRequest, ctx: Any) -> pb.SendInputResponse:
        process = self.envd.process(request.process)
        stdin = process.proc.stdin
        match request.input.input if request.input is not None else None:
            case Oneof(field="stdin", value=data) if stdin is not None and not stdin.is_closing():
                try:
                    stdin.write(data)
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError) as error:
                    raise ConnectError(
                        Code.INTERNAL, f"error writing to stdin of process '{process.pid}': {error}"
                    ) from None
            case Oneof(field="stdin"):
                raise ConnectError(Code.FAILED_PRECONDITION, "stdin not enabled or closed")
            case _:
                raise ConnectError(Code.INVALID_ARGUMENT, "only stdin input is supported by the stand-in")
        return pb.SendInputResponse()

    async def send_signal(self, request: pb.SendSignalRequest, ctx: Any) -> pb.SendSignalResponse:
        process = self.envd.process(request.process)
        sig = {pb.Signal.SIGKILL: signal.SIGKILL, pb.Signal.SIGTERM: signal.SIGTERM}.get(request.signal)
        if sig is None:
            raise ConnectError(Code.INVALID_ARGUMENT, f"invalid signal: {request.signal}")
        process.output_stopped = True  # envd cancels the output on SIGKILL/SIGTERM
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            pass
        return pb.SendSignalResponse()

    async def close_stdin(self, request: pb.CloseStdinRequest, ctx: Any) -> pb.CloseStdinResponse:
        process = self.envd.process(request.process)
        if process.proc.stdin is not None:
            process.proc.stdin.close()
        return pb.CloseStdinResponse()

    async def list(self, request: pb.ListRequest, ctx: Any) -> pb.ListResponse:
        running = [p for p in self.envd._processes.values() if p.proc.returncode is None]
        return pb.ListResponse(processes=[pb.ProcessInfo(config=p.config, pid=p.pid, tag=p.tag) for p in running])


class _FilesystemService(Filesystem):
    """filesystem.Filesystem: what `files.exists`, `make_dir` and `remove` call."""

    def __init__(self, envd: EnvdStandIn) -> None:
        self.envd = envd

    async def stat(self, request: fs_pb.StatRequest, ctx: Any) -> fs_pb.StatResponse:
        target = self.envd.local(request.path)
        try:
            info = target.stat()
        except FileNotFoundError:
            raise ConnectError(Code.NOT_FOUND, f"file not found: {request.path}") from None
        kind = fs_pb.FileType.DIRECTORY if stat.S_ISDIR(info.st_mode) else fs_pb.FileType.FILE
        return fs_pb.StatResponse(
            entry=fs_pb.EntryInfo(
                name=target.name, type=kind, path=str(target), size=info.st_size, mode=info.st_mode & 0o777
            )
        )

    async def make_dir(self, request: fs_pb.MakeDirRequest, ctx: Any) -> fs_pb.MakeDirResponse:
        target = self.envd.local(request.path)
        if target.exists():
            raise ConnectError(Code.ALREADY_EXISTS, f"directory already exists: {request.path}")
        target.mkdir(parents=True)
        return fs_pb.MakeDirResponse(
            entry=fs_pb.EntryInfo(name=target.name, type=fs_pb.FileType.DIRECTORY, path=str(target))
        )

    async def remove(self, request: fs_pb.RemoveRequest, ctx: Any) -> fs_pb.RemoveResponse:
        target = self.envd.local(request.path)
        if not target.exists():
            raise ConnectError(Code.NOT_FOUND, f"file not found: {request.path}")
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        else:
            target.unlink()
        return fs_pb.RemoveResponse()


@contextlib.contextmanager
def pointed_at(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EnvdStandIn]:
    """A running stand-in, with the SDK pointed at it (E2B_DEBUG, E2B_SANDBOX_URL) until the end.

    Builds go to the shared template directory the local transport also uses (so the wheel is
    unpacked once, and `files.exists` answers whether the "template" holds the build).
    """
    from osiris.runtime.e2b.host.wheel import cache_root

    template = cache_root() / "e2b" / "site"
    template.mkdir(parents=True, exist_ok=True)
    stand_in = EnvdStandIn(scratch, templates=(template,)).start()
    monkeypatch.setenv("E2B_DEBUG", "true")
    monkeypatch.setenv("E2B_SANDBOX_URL", stand_in.url)
    try:
        yield stand_in
    finally:
        stand_in.stop()
