"""The host-side proxy: run a manifest in a sandbox as a drop-in for the local executor.

`SandboxExecutor(options)` has the signature of `runtime.local.executor.execute`, so
`runtime.run` compiles, opens the session, writes run_start/run_end and status.json exactly
as for a local run, and only the middle part happens remotely:

prepare (preflight, wheel, pins, job files; no sandbox yet) -> create (retried) -> upload
(retried) -> start worker -> handshake -> exec_step for every step -> mirror messages into
the session while downloading outputs -> result -> shutdown -> kill the sandbox (unless
`keep`). Any failure on the way becomes a step failure naming the step, and the sandbox is
killed on every path, including Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from osiris.compiler.manifest_records import Manifest
from osiris.runtime.e2b.host import wheel as wheels
from osiris.runtime.e2b.host.downloads import Artifact, Downloader
from osiris.runtime.e2b.host.facts import record_facts
from osiris.runtime.e2b.host.handshake import check_handshake
from osiris.runtime.e2b.host.jobfiles import build_installed, job_files, worker_env
from osiris.runtime.e2b.host.link import SandboxFailure, WorkerLink
from osiris.runtime.e2b.host.mirror import SessionMirror
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.payload import build_payload
from osiris.runtime.e2b.host.staging import Staging, StagingRefused, preflight, stage
from osiris.runtime.e2b.host.transport import Sandbox, SandboxSpec, Transport, TransportError, with_retries
from osiris.runtime.e2b.protocol import PROTOCOL
from osiris.runtime.e2b.sandbox.connections import PayloadConnections
from osiris.runtime.local.context import StepState
from osiris.runtime.local.executor import ExecOptions, ExecResult
from osiris.runtime.secrets import SecretMasker

__all__ = ["SandboxExecutor", "make_transport"]

log = logging.getLogger("osiris.e2b")
_Failure = SandboxFailure
_TAMPERED = "only the files the manifest's writers declare are downloaded; the sandbox sent something else"


def make_transport(options: E2BOptions) -> Transport:
    if options.transport == "local":
        from osiris.runtime.e2b.host.local import LocalTransport

        return LocalTransport(cache_dir=wheels.cache_root() / "e2b" / "site")
    from osiris.runtime.e2b.host.sdk import E2BTransport

    return E2BTransport()


class SandboxExecutor:
    """Callable like `execute(...)`; `last_report` holds the sandbox facts of the latest run."""

    def __init__(self, options: E2BOptions, transport: Transport | None = None) -> None:
        self.options = options
        self.transport = transport
        self.last_report: dict[str, Any] = {}

    def __call__(
        self,
        manifest: Manifest,
        cfgs: Mapping[str, dict[str, Any]],
        *,
        events: Any,
        metrics: Any,
        tmp_dir: Path,
        connections: Any,
        registry: Any,
        cancel: threading.Event,
        options: ExecOptions,
        on_change: Callable[[StepState], None] | None = None,
    ) -> ExecResult:
        transport = self.transport or make_transport(self.options)
        job = _SandboxRun(
            self.options,
            transport,
            manifest,
            cfgs,
            events,
            metrics,
            Path(tmp_dir),
            connections,
            cancel,
            options,
            on_change,
        )
        try:
            return job.go()
        finally:
            self.last_report = job.report


class _SandboxRun:
    def __init__(
        self,
        opts: E2BOptions,
        transport: Transport,
        manifest: Manifest,
        cfgs: Mapping[str, dict[str, Any]],
        events: Any,
        metrics: Any,
        tmp_dir: Path,
        connections: Any,
        cancel: threading.Event,
        exec_options: ExecOptions,
        on_change: Callable[[StepState], None] | None,
    ) -> None:
        self.opts, self.transport, self.manifest, self.cfgs = opts, transport, manifest, cfgs
        self.events, self.metrics, self.tmp_dir, self.connections = events, metrics, tmp_dir, connections
        self.cancel, self.exec_options = cancel, exec_options
        self.masker: SecretMasker = getattr(connections, "masker", None) or SecretMasker()
        self.session_dir = tmp_dir.parent
        self.mirror = SessionMirror(manifest, events, metrics, on_change, exec_options.sources)
        self.sandbox: Sandbox | None = None
        self.link = WorkerLink(self.masker, opts.timeout_s, opts.heartbeat_timeout_s, opts.max_protocol_bytes)
        self.downloader: Downloader | None = None
        self.timings: dict[str, float] = {}
        self.counts = {"upload_bytes": 0, "create_attempts": 0, "upload_attempts": 0}
        self.handshake: dict[str, Any] = {}
        self.dispatch_s = 0.0
        """Host CPU time applying worker messages (events.jsonl, status.json writes included)."""
        self.worker_wire: dict[str, Any] = {}
        self.report: dict[str, Any] = {}
        self.worker_status: str | None = None
        self.announced: set[str] = set()
        """Writers whose declared output the sandbox reported (each at most once)."""

    # -- the run ---------------------------------------------------------------------------
    def go(self) -> ExecResult:
        started = time.monotonic()
        try:
            self._phase("prepare", self._prepare)
            self._phase("create", self._create)
            self._phase("upload", self._upload)
            self._phase("start", self._start)
            self._phase("exec", self._converse)
        except _Failure as failure:
            self._record_failure(failure)
        except BaseException:
            self._record_failure(_Failure("the run was interrupted on the host"))
            raise
        finally:
            try:
                self._phase("download", self._finish_downloads)
            finally:
                self._phase("teardown", self._teardown)
                self.timings["total"] = time.monotonic() - started
                self._write_report()
        return ExecResult(self._status(), self.mirror.states, dict(self.mirror.runners))  # type: ignore[arg-type]

    def _phase(self, name: str, action: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            action()
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    def _status(self) -> str:
        if self.cancel.is_set():
            return "cancelled"
        if all(s.status == "succeeded" for s in self.mirror.states.values()):
            return "succeeded"
        return "failed"

    # -- prepare: everything that needs no sandbox -------------------------------------------
    def _prepare(self) -> None:
        problems = preflight(self.manifest, self.cfgs)
        if problems:
            raise _Failure(problems[0].message, problems[0].hint, step_id=problems[0].step_id)
        try:
            self.build = wheels.ensure_wheel(self.opts.wheel)
            self.lock = "\n".join(wheels.cached_pins()) + "\n"
        except wheels.WheelError as error:
            raise _Failure(str(error), "run from a source checkout, or pass a prebuilt wheel") from None

    def _stage(self, root: str) -> None:
        """Mounts, input files and the connection payload, once the sandbox root is known."""
        self.root = root
        try:
            self.staging: Staging = stage(
                self.manifest, self.cfgs, self.connections, self.exec_options.work_dir, root
            )
        except StagingRefused as refused:
            problem = refused.problem
            raise _Failure(problem.message, problem.hint, step_id=problem.step_id) from None
        self.mirror.downloaded = frozenset(self.staging.outputs)
        payload = build_payload(self.manifest, self.connections, self.staging.map_dir)
        host_env = getattr(self.connections, "env", None) or os.environ
        try:
            self.worker_env = worker_env(self.opts, host_env, PayloadConnections(payload, SecretMasker()).masker)
        except ValueError as error:
            raise _Failure(str(error), "pass secrets through osiris_connections.yaml, never --e2b-env") from None
        self.payload: dict[str, Any] | None = payload
        """Sent once over the worker's stdin after its handshake is accepted, then dropped."""

    # -- create and upload -------------------------------------------------------------------
    def _create(self) -> None:
        spec = SandboxSpec(
            self.opts.template,
            self.opts.timeout_s,
            {"osiris_session": self._session_id(), **self.opts.metadata},
        )

        def attempt() -> Sandbox:
            self.counts["create_attempts"] += 1
            if self.cancel.is_set():
                raise _Failure("the run was cancelled before the sandbox started")
            return self.transport.create(spec)

        try:
            self.sandbox = with_retries(
                attempt,
                what="creating the sandbox",
                attempts=self.opts.retries,
                backoff_s=self.opts.backoff_s,
            )
        except TransportError as error:
            raise _Failure(f"the sandbox could not be created: {error}", error.hint) from None
        self._stage(self.sandbox.root)

    def _upload(self) -> None:
        sandbox = self.sandbox
        assert sandbox is not None

        def attempt() -> int:
            self.counts["upload_attempts"] += 1
            self.wheel_uploaded = not build_installed(sandbox, self.build)
            files = job_files(
                root=self.root,
                sandbox=sandbox,
                build=self.build,
                installed=not self.wheel_uploaded,
                lock=self.lock,
                staging=self.staging,
                session_id=self._session_id(),
                compiled=self.session_dir / "compiled",
                tmp_dir=self.tmp_dir,
                exec_options=self.exec_options,
                opts=self.opts,
            )
            return sandbox.upload(files)

        try:
            self.counts["upload_bytes"] = with_retries(
                attempt,
                what="uploading to the sandbox",
                attempts=self.opts.retries,
                backoff_s=self.opts.backoff_s,
            )
        except TransportError as error:
            raise _Failure(f"uploading the job to the sandbox failed: {error}", error.hint) from None

    # -- the worker --------------------------------------------------------------------------
    def _start(self) -> None:
        sandbox = self.sandbox
        assert sandbox is not None
        argv = [sandbox.python, f"{self.root}/bootstrap.py", self.root]
        self.link.start(sandbox, argv, self.worker_env, self.staging.work)
        self.downloader = Downloader(
            sandbox,
            self.staging.mounts,
            retries=self.opts.retries,
            backoff_s=self.opts.backoff_s,
            on_failure=self._download_failed,
        )
        self._await_handshake()

    def _session_id(self) -> str:
        return str(getattr(self.events, "session_id", ""))

    def _await_handshake(self) -> None:
        while True:
            message = self.link.next(lenient=True)
            if message is None or message["type"] == "heartbeat":
                continue
            if message["type"] == "log":
                self.mirror.log(message)
                continue
            if message["type"] != "handshake":
                raise _Failure(f"the sandbox worker sent {message['type']} before its handshake")
            break
        self.handshake = message
        problem = check_handshake(message, self.build.build_id, self.opts.cpu)
        if problem is not None:
            self.link.send(
                [{"type": "handshake", "protocol": message.get("protocol"), "accepted": False, "reason": problem[0]}]
            )
            raise _Failure(problem[0], problem[1])

    def _converse(self) -> None:
        order = self.manifest.order
        payload, self.payload = self.payload, None
        self.link.send(
            [
                {"type": "handshake", "protocol": PROTOCOL, "accepted": True},
                {"type": "connections", "payload": payload},
                *(
                    {
                        "type": "exec_step",
                        "step_id": step_id,
                        "cfg_fp": self.manifest.step(step_id).cfg_fp,
                        "index": index,
                        "count": len(order),
                    }
                    for index, step_id in enumerate(order)
                ),
            ]
        )
        cancel_deadline: float | None = None
        while self.worker_status is None:
            if self.cancel.is_set() and cancel_deadline is None:
                cancel_deadline = time.monotonic() + self.opts.shutdown_grace_s
                try:
                    self.link.send([{"type": "cancel"}])
                except _Failure:
                    cancel_deadline = time.monotonic()
            if cancel_deadline is not None and time.monotonic() > cancel_deadline:
                raise _Failure("the sandbox worker did not stop after cancel")
            message = self.link.next()
            if message is not None:
                started = time.thread_time()
                self._dispatch(message)
                self.dispatch_s += time.thread_time() - started
        self._shutdown_worker()
        if self.mirror.unfinished() and not self.cancel.is_set():
            raise _Failure(
                "the sandbox worker reported the end of the run while steps were unfinished",
                "the sandbox sent a result the protocol does not allow; the run was stopped",
            )

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        try:
            if kind == "event":
                self.mirror.event(message)
            elif kind == "metric":
                self.mirror.metric(message)
            elif kind == "state":
                self.mirror.state(message["step"])
            elif kind == "artifact":
                self._accept_artifact(message)
            elif kind == "log":
                self.mirror.log(message)
            elif kind == "heartbeat":
                self.mirror.progress(message.get("progress") or {})
            elif kind == "result":
                self.worker_status = self.mirror.result(message)
                self.worker_wire = dict(message.get("wire") or {})
        except (ValueError, KeyError, TypeError) as error:
            raise _Failure(
                f"the sandbox worker sent an invalid {kind} message: {self.masker.mask(str(error))}"
            ) from None

    def _accept_artifact(self, message: dict[str, Any]) -> None:
        """Download a writer's output only if it is the file that writer declares, once.

        The host chose each writer's file from the manifest (Staging.outputs); the sandbox only
        says it is ready, with its size and sha256. Any other path (undeclared, traversing,
        absolute, another step's, a second report) means the sandbox is misbehaving: the run
        stops, and nothing of it is downloaded.
        """
        assert self.downloader is not None
        step_id, reported = str(message["step_id"]), (message.get("mount", 0), str(message["path"]))
        declared = self.staging.outputs.get(step_id)
        blame = step_id if step_id in self.mirror.states else None
        shown = self.masker.mask(repr(reported[1])[:300])
        if declared is None:
            raise _Failure(
                f"the sandbox reported an output file {shown} for {step_id[:80]!r}, which declares none; refused",
                _TAMPERED,
                step_id=blame,
            )
        if reported != declared:
            raise _Failure(
                f"the sandbox reported the output file {shown} (mount {reported[0]}), but the step declares "
                f"{declared[1]!r} (mount {declared[0]}); refused",
                _TAMPERED,
                step_id=blame,
            )
        if step_id in self.announced:
            raise _Failure(f"the sandbox reported the output of {step_id} twice; refused", _TAMPERED, step_id=blame)
        files = _dataset_files(message.get("files"), step_id in self.staging.datasets)
        if isinstance(files, str):
            raise _Failure(f"the sandbox reported the output of {step_id} {files}; refused", _TAMPERED, step_id=blame)
        self.announced.add(step_id)
        self.downloader.submit(
            Artifact(step_id, declared[0], declared[1], int(message["size"]), str(message["sha256"]),
                     overwrite=step_id not in self.staging.keep_existing, files=files)
        )

    def _shutdown_worker(self) -> None:
        """Tell the worker it may exit; the sandbox is killed next anyway, so do not wait for it."""
        try:
            self.link.send([{"type": "shutdown"}])
        except _Failure:
            pass

    # -- failures, downloads, teardown -------------------------------------------------------
    def _record_failure(self, failure: _Failure) -> None:
        message = self.masker.mask(str(failure))
        hint = self.masker.mask(failure.hint) if failure.hint else None
        if self.cancel.is_set():
            self.mirror.abandon([], cancelled=True)
            return
        blamed = [failure.step_id] if failure.step_id else self.mirror.blame()
        for step_id in blamed:
            if self.mirror.states[step_id].status not in ("succeeded", "failed", "skipped", "cancelled"):
                self.mirror.fail_step(step_id, message, hint)
        self.mirror.abandon(blamed, cancelled=False)
        self.failure = message

    def _download_failed(self, step_id: str, message: str) -> None:
        self.mirror.fail_step(step_id, self.masker.mask(message), "rerun the pipeline; the sandbox output was lost")

    def _finish_downloads(self) -> None:
        if self.downloader is None:
            return
        self.downloader.finish()
        staging = getattr(self, "staging", None)
        for step_id in staging.outputs if staging is not None else ():
            state = self.mirror.states.get(step_id)
            if state is not None and state.status == "succeeded" and step_id not in self.announced:
                self.mirror.fail_step(
                    step_id,
                    "the sandbox did not report this step's output file, so it was not downloaded",
                    "rerun the pipeline; if it persists, run it with --e2b-keep and look in the sandbox",
                )

    def _teardown(self) -> None:
        if self.link.alive() and not self.opts.keep:
            self.link.kill()
        if self.sandbox is not None and not self.opts.keep:
            self.sandbox.kill()
        elif self.sandbox is not None:
            facts = self.sandbox.describe()
            text = f"sandbox {self.sandbox.id} kept (--e2b-keep); its files are in {facts.get('root')}"
            log.warning("%s", text)
            if self.opts.announce is not None:
                self.opts.announce(text)

    def _write_report(self) -> None:
        ms = {name: round(seconds * 1000, 1) for name, seconds in self.timings.items()}
        build = getattr(self, "build", None)
        self.report = {
            "transport": self.transport.name,
            "sandbox": self.sandbox.describe() if self.sandbox is not None else None,
            "kept": bool(self.opts.keep and self.sandbox is not None),
            "template": self.opts.template,
            "build": {
                "sha256": build.sha256,
                "cached_wheel": build.cached,
                "uploaded": bool(getattr(self, "wheel_uploaded", False)),
            }
            if build
            else None,
            "timings_ms": ms,
            "traffic": {
                **self.counts,
                **self.link.counts,
                "download_bytes": self.downloader.bytes if self.downloader else 0,
            },
            "protocol_ms": {
                "host_decode": round(self.link.decode_s * 1000, 3),
                "host_dispatch": round(self.dispatch_s * 1000, 3),
                "worker_send": round(float(self.worker_wire.get("seconds", 0)) * 1000, 3),
            },
            "worker": {k: v for k, v in self.handshake.items() if k not in ("type", "env_names")},
            "worker_env_names": self.handshake.get("env_names", []),
            "failure": getattr(self, "failure", None),
        }
        record_facts(self.report, self.session_dir / "artifacts" / "e2b.json", self.masker, self.metrics)


def _dataset_files(listed: Any, dataset: bool) -> tuple[tuple[str, int, str], ...] | None | str:
    """A dataset's files as (name, size, sha256), None for a single file, or why the report is
    refused: a list for a single file or none for a dataset, a name that is empty, absolute,
    hidden, climbs (`..`) or repeats. The names land under the host's staging directory."""
    if not dataset:
        return None if listed is None else "as a directory, but it declares one file"
    if listed is None:
        return "as one file, but it declares a dataset directory"
    seen: set[str] = set()
    out = []
    for entry in listed:
        name = str(entry["name"])
        bad_part = any(part in ("", ".", "..") or part.startswith(".") for part in name.split("/"))
        if name in seen or bad_part or "\\" in name or "\x00" in name:
            return f"with the file name {name[:200]!r}"
        seen.add(name)
        out.append((name, int(entry["size"]), str(entry["sha256"])))
    return tuple(out)

