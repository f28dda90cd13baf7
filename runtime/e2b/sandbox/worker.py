"""The in-sandbox worker: run the uploaded manifest with the local executor, stream everything back.

Started by `bootstrap.py` in the sandbox. It runs the very executor `osiris run` uses
locally (`runtime.local.executor.execute`), with the same drivers and the same wiring, so
data moves between steps exactly as it does on a laptop; only the sinks differ: events,
metrics, step states, logs and output files go to the host as protocol messages instead
of into files. Every message is masked here and again on the host.

Lifecycle: handshake -> wait for the host's handshake, the `connections` (the only way
secrets reach the sandbox: never the environment, argv or a file, which step code could
read) and `exec_step` for every step -> execute (heartbeats and live progress meanwhile;
`cancel` stops it) -> `result` -> wait for `shutdown` (or the end of stdin) -> exit 0.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import logging
import os
import platform
import queue
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.compiler.files import file_sha256
from osiris.compiler.path_policy import store_scheme, writes_dataset
from osiris.runtime.e2b.paths import Mount, PathMapper, locate
from osiris.runtime.e2b.protocol import HOST_MESSAGES, PROTOCOL, ProtocolError, decode
from osiris.runtime.e2b.sandbox.sinks import ForwardEvents, ForwardMetrics, LogForwarder, Wire, snapshot
from osiris.runtime.secrets import SecretMasker

if TYPE_CHECKING:
    from osiris.runtime.e2b.sandbox.connections import PayloadConnections

__all__ = ["REPORTED_PACKAGES", "main"]

REPORTED_PACKAGES = (
    "pyarrow",
    "duckdb",
    "pymysql",
    "connectorx",
    "adbc-driver-postgresql",
    "psycopg",
    "pydantic",
    "supabase",
)
"""Versions the handshake reports, so the host can refuse a sandbox that would not match it."""

_HANDSHAKE_WAIT_S = 120.0


class _Inbox:
    """Reads host messages from stdin on a thread; `cancel` and end-of-input set events."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.cancel = threading.Event()
        self.shutdown = threading.Event()
        self.bytes_received = 0
        threading.Thread(target=self._run, name="e2b-inbox", daemon=True).start()

    def _run(self) -> None:
        try:
            for line in self.stream:
                self.bytes_received += len(line)
                if not line.strip():
                    continue
                try:
                    message = decode(line, HOST_MESSAGES)
                except ProtocolError as error:
                    logging.getLogger("osiris.e2b.worker").error("bad message from the host: %s", error)
                    continue
                if message["type"] == "cancel":
                    self.cancel.set()
                elif message["type"] == "shutdown":
                    self.shutdown.set()
                    self.cancel.set()
                else:
                    self.messages.put(message)
        finally:
            # The host is gone (or closed stdin): stop whatever runs and let main() exit.
            self.cancel.set()
            self.shutdown.set()
            self.messages.put({"type": "eof"})

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return {"type": "timeout"}


def handshake(boot_info: dict[str, Any]) -> dict[str, Any]:
    packages = {}
    for name in REPORTED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "type": "handshake",
        "protocol": PROTOCOL,
        "osiris": metadata.version("osiris-oml"),
        "build": boot_info.get("build_id"),
        "python": platform.python_version(),
        "packages": packages,
        "pid": os.getpid(),
        "cpus": os.cpu_count(),
        "env_names": sorted(os.environ),
        "runtime_path": str(Path(__file__).resolve().parents[2]),  # the runtime/ folder in use
        **boot_info,
    }


class _Job:
    """One execution: the manifest, the sinks and the on_change hook that ships artifacts."""

    def __init__(
        self,
        root: Path,
        job: dict[str, Any],
        wire: Wire,
        masker: SecretMasker,
        conns: PayloadConnections,
        inbox: _Inbox,
    ) -> None:
        self.root, self.job, self.wire, self.masker, self.conns, self.inbox = (
            root,
            job,
            wire,
            masker,
            conns,
            inbox,
        )
        self.mounts = [Mount(m["host"], m["sandbox"]) for m in job["mounts"]]
        self.work_dir = Path(self.mounts[0].sandbox)
        self.states: dict[str, Any] = {}
        self.running = False
        self._artifacts_sent: set[str] = set()

    def run(self, requested: list[dict[str, Any]]) -> None:
        from osiris.compiler.manifest import ManifestError, load_manifest, read_regular, read_sources
        from osiris.runtime.local.executor import ExecOptions, execute
        from osiris.runtime.registry import default_registry

        # The same verification as on the host; paths are judged against the mirrored work dir,
        # not wherever the worker process happened to start.
        manifest, cfgs, _ = load_manifest(self.root / "job" / "compiled", project_root=self.work_dir)
        wanted = {m["step_id"]: m["cfg_fp"] for m in requested}
        plan = {step.id: step.cfg_fp for step in manifest.steps}
        if wanted != plan:
            raise ProtocolError(
                "exec_step messages must name every step of the manifest with its cfg_fp "
                f"(got {sorted(wanted)}, manifest has {sorted(plan)})"
            )
        self.manifest, self.cfgs = manifest, cfgs
        try:  # optional: it only lets a failed step cite its OML line
            sources = read_sources(read_regular(self.root / "job" / "compiled" / "sourcemap.json", "sourcemap.json"))
        except ManifestError:
            sources = None
        opts = self.job.get("exec", {})
        options = ExecOptions(
            work_dir=self.work_dir,
            batch_rows=int(opts.get("batch_rows", 65536)),
            channel_capacity=int(opts.get("channel_capacity", 4)),
            step_memory_bytes=int(opts.get("step_memory_bytes", 512 * 2**20)),
            keep_spill=bool(opts.get("keep_spill", False)),
            debug=bool(opts.get("debug", False)),
            sources=sources.citations() if sources is not None else {},
        )
        session_id = self.job["session_id"]
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.running = True
        events = ForwardEvents(self.wire, session_id)
        self.conns.notices.emit = events.emit  # "connection_unencrypted", as in a local run
        try:
            result = execute(
                manifest,
                cfgs,
                events=events,
                metrics=ForwardMetrics(self.wire, session_id),
                tmp_dir=tmp,
                connections=self.conns,
                registry=default_registry(),
                cancel=self.inbox.cancel,
                options=options,
                on_change=self._changed,
            )
        finally:
            self.running = False
        steps = {}
        for step_id, state in result.steps.items():
            runner = result.runners.get(step_id)
            schema = getattr(runner, "schema", None)
            steps[step_id] = {
                "state": snapshot(state),
                "schema": base64.b64encode(schema.serialize().to_pybytes()).decode() if schema else None,
                "traceback": getattr(runner, "traceback", None),
            }
        self.wire.send({"type": "result", "status": result.status, "steps": steps, "wire": self.wire.stats()})

    def _changed(self, state: Any) -> None:
        self.states[state.id] = state
        if state.status == "succeeded" and state.kind == "writer" and state.id not in self._artifacts_sent:
            self._artifacts_sent.add(state.id)
            self._send_artifact(state.id)
        self.wire.send({"type": "state", "step": snapshot(state)})

    def _send_artifact(self, step_id: str) -> None:
        """Report a filesystem writer's output file so the host can download it."""
        from osiris.runtime.connections import step_ref

        step = self.manifest.step(step_id)
        cfg = self.cfgs[step_id]
        if step.family != "filesystem" or not isinstance(cfg.get("path"), str) or store_scheme(cfg["path"]):
            return  # an object store's objects are the store's; nothing to download
        path = Path(cfg["path"]).expanduser()
        if not path.is_absolute():
            ref = step_ref(step.family, step.connection, self.conns)
            base = None
            if ref:
                try:
                    resolved = self.conns.resolve(str(ref))
                except Exception:  # noqa: BLE001 - the step succeeded, so it resolved before
                    resolved = None
                # As drivers.common.paths: only a filesystem connection's base_dir counts.
                if resolved is not None and resolved.family == "filesystem":
                    base = resolved.get("base_dir")
            base_path = Path(str(base)).expanduser() if base else self.work_dir
            path = (base_path if base_path.is_absolute() else self.work_dir / base_path) / path
        path = Path(os.path.normpath(path))  # the host expects the normalised form it computed itself
        where = locate(self.mounts, str(path))
        dataset = step.component == "filesystem.parquet_writer" and writes_dataset(cfg, cfg["path"])
        if where is None or path.is_symlink() or not (path.is_dir() if dataset else path.is_file()):
            # The host fails the step: a writer that succeeded must report its declared file.
            logging.getLogger("osiris.e2b.worker").warning(
                "output of %s is not a regular %s under a mount: %s", step_id, "directory" if dataset else "file", path
            )
            return
        message: dict[str, Any] = {"type": "artifact", "step_id": step_id, "mount": where[0], "path": where[1]}
        if dataset:  # every regular file under it; the host downloads them all, then swaps the directory in
            files = [{"name": file.relative_to(path).as_posix(), "size": file.stat().st_size,
                      "sha256": file_sha256(file)}
                     for file in sorted(path.rglob("*")) if file.is_file() and not file.is_symlink()]
            listing = json.dumps(files, sort_keys=True).encode("utf-8")
            message.update(size=sum(f["size"] for f in files), sha256=hashlib.sha256(listing).hexdigest(), files=files)
        else:
            message.update(size=path.stat().st_size, sha256=file_sha256(path))
        self.wire.send(message)

    def progress(self) -> dict[str, Any]:
        """Live counters of the running steps, for the host's progress display."""
        from osiris.runtime.local.context import PROGRESS_FIELDS

        return {
            s.id: {name: getattr(s, name) for name in PROGRESS_FIELDS}
            for s in list(self.states.values())
            if s.status == "running"
        }


def _heartbeats(wire: Wire, inbox: _Inbox, interval: float, current: list[_Job]) -> None:
    """From the handshake to exit: the host treats silence as a lost connection."""
    while not inbox.shutdown.wait(interval):
        job = current[0] if current else None
        if job is not None and job.running:
            wire.send({"type": "heartbeat", "phase": "run", "progress": job.progress()})
        else:
            wire.send({"type": "heartbeat", "phase": "start" if job is None else "end"})


def main(root: Path, out: Any, boot: dict[str, Any], boot_info: dict[str, Any]) -> int:
    """Entry point called by bootstrap.py; returns the process exit code."""
    job = json.loads((root / "job" / "run.json").read_text(encoding="utf-8"))
    masker = SecretMasker()
    masker.add_environment(os.environ)
    pairs = [(m["sandbox"], m["host"]) for m in job["mounts"]] + [(s, h) for s, h in job.get("map", [])]
    wire = Wire(out, masker, PathMapper(pairs))
    level = logging.DEBUG if job.get("exec", {}).get("debug") else logging.WARNING
    root_logger = logging.getLogger()
    root_logger.addHandler(LogForwarder(wire, level))
    root_logger.setLevel(min(root_logger.level or logging.WARNING, level))
    inbox = _Inbox(sys.stdin)
    wire.send(handshake({**boot_info, "build_id": boot.get("build_id")}))
    current: list[_Job] = []
    interval = float(job.get("heartbeat_s", 2.0))
    threading.Thread(
        target=_heartbeats, args=(wire, inbox, interval, current), name="e2b-heartbeat", daemon=True
    ).start()
    try:
        reply = inbox.next(_HANDSHAKE_WAIT_S)
        if reply.get("type") != "handshake" or not reply.get("accepted"):
            reason = reply.get("reason") or f"no handshake from the host (got {reply.get('type')})"
            wire.send({"type": "error", "stage": "handshake", "message": str(reason)})
            return 4
        # The resolved connections come over stdin, never through the environment or a file
        # (step code can read /proc/self/environ); their secrets join the masker before any step runs.
        message = inbox.next(_HANDSHAKE_WAIT_S)
        if message["type"] != "connections" or not isinstance(message.get("payload"), dict):
            wire.send({"type": "error", "stage": "exec", "message": f"expected connections, got {message['type']}"})
            return 4
        payload: dict[str, Any] = message["payload"]
        del message
        from osiris.runtime.e2b.sandbox.connections import (
            PayloadConnections,  # imports pyarrow: after the handshake is out
        )

        conns = PayloadConnections(payload, masker)
        requested: list[dict[str, Any]] = []
        while True:
            message = inbox.next(_HANDSHAKE_WAIT_S)
            if message["type"] != "exec_step":
                wire.send(
                    {
                        "type": "error",
                        "stage": "exec",
                        "message": f"expected exec_step, got {message['type']}",
                    }
                )
                return 4
            requested.append(message)
            if len(requested) >= int(message["count"]):
                break
        current.append(_Job(root, job, wire, masker, conns, inbox))
        current[0].run(requested)
    except Exception as error:  # noqa: BLE001 - reported to the host, then a non-zero exit
        wire.send({"type": "error", "stage": "exec", "message": f"{type(error).__name__}: {error}"})
        return 1
    deadline = time.monotonic() + float(job.get("shutdown_grace_s", 10.0))
    while not inbox.shutdown.wait(0.05) and time.monotonic() < deadline:
        pass
    return 0
