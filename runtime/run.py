"""`osiris run` as a function: session, compile (or load a manifest), execute, record.

The CLI renders what this returns; tests and embedders call `run()` directly with their own
driver registry and cancel event. Every run that gets past argument checking has a session
directory, including runs whose compile fails, so `osiris logs` shows them too.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.api import CompileOptions, CompileResult, compile_path, write_output
from osiris.compiler.compiled import Compiled
from osiris.compiler.connections import ConnectionsFile
from osiris.compiler.path_policy import protected_files
from osiris.compiler.render import diagnostic_json
from osiris.oml.diagnostics import Diagnostic
from osiris.runtime.connections import (
    ConnectionsUnavailable,
    RuntimeConnections,
    UnencryptedNotices,
    load_connections_file,
)
from osiris.runtime.events import utc_now
from osiris.runtime.local.context import StepState
from osiris.runtime.local.executor import ExecOptions, ExecResult, execute
from osiris.runtime.local.rss import peak_rss_bytes
from osiris.runtime.logsetup import masked_logging
from osiris.runtime.registry import DriverRegistry, default_registry
from osiris.runtime.secrets import SecretMasker
from osiris.runtime.session import Session, SessionError
from osiris.runtime.status import build_status

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "RunOutcome",
    "RunRequest",
    "UsageError",
    "run",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130

STATUS_INTERVAL_S = 0.5
"""Least time between two status.json writes while steps change (the final write is never held back)."""


class UsageError(Exception):
    """The command line asks for something impossible (exit 2, no session)."""


@dataclass
class RunRequest:
    pipeline: Path | None = None
    manifest_dir: Path | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    connections: str | None = None
    run_id: str | None = None
    session_root: Path = Path(".osiris") / "sessions"
    work_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] | None = None
    exec_options: ExecOptions | None = None


@dataclass
class RunOutcome:
    exit_code: int
    status: dict[str, Any]
    session: Session
    masker: SecretMasker
    diagnostics: list[Diagnostic] = field(default_factory=list)
    compile_result: CompileResult | None = None
    result: ExecResult | None = None

    @property
    def failures(self) -> list[StepState]:
        return self.result.failed if self.result is not None else []


def run(
    request: RunRequest,
    *,
    registry: DriverRegistry | None = None,
    cancel: threading.Event | None = None,
    on_session: Callable[[Session], None] | None = None,
    on_change: Callable[[StepState], None] | None = None,
    spec_registry: Any = None,
    executor: Callable[..., ExecResult] | None = None,
) -> RunOutcome:
    """Run a pipeline or a compiled manifest; raises UsageError/SessionError before a session exists.

    `registry` maps components to drivers (default: the `osiris.drivers` entry points);
    `spec_registry` is the compiler's component registry (default: the shipped specs);
    `executor` replaces the local executor with one of the same signature (`osiris run --e2b`
    passes `runtime.e2b.SandboxExecutor`), so sessions, events and status are written alike.
    """
    env = os.environ if request.env is None else request.env
    work_dir = Path(request.work_dir).resolve()
    _check_request(request, work_dir)
    masker = SecretMasker()
    masker.add_environment(env)
    session = Session(_absolute(request.session_root, work_dir), request.run_id, masker)
    if on_session is not None:
        on_session(session)
    job = _Run(
        request,
        session,
        masker,
        env,
        work_dir,
        registry or default_registry(),
        cancel or threading.Event(),
        on_change,
    )
    job.spec_registry = spec_registry
    job.executor = executor or execute
    return job.go()


def _check_request(request: RunRequest, work_dir: Path) -> None:
    if (request.pipeline is None) == (request.manifest_dir is None):
        raise UsageError("give either a pipeline file or --manifest DIR")
    if request.pipeline is not None and not _absolute(request.pipeline, work_dir).exists():  # a FIFO: OML014
        raise UsageError(f"pipeline file not found: {request.pipeline}")
    if request.manifest_dir is not None:
        if not (_absolute(request.manifest_dir, work_dir) / "manifest.yaml").exists():  # a FIFO: refused when read
            raise UsageError(
                f"{request.manifest_dir} is not a compiled manifest directory (no manifest.yaml)"
            )
        if request.params or request.profile:
            raise UsageError(
                "--param and --profile apply when compiling; a compiled manifest has its "
                "parameters bound already (recompile with omlc, or run the pipeline file)"
            )


def _absolute(path: Path, base: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else base / path


class _Run:
    def __init__(
        self,
        request: RunRequest,
        session: Session,
        masker: SecretMasker,
        env: Mapping[str, str],
        work_dir: Path,
        registry: DriverRegistry,
        cancel: threading.Event,
        on_change: Callable[[StepState], None] | None,
    ) -> None:
        self.request, self.session, self.masker, self.env = request, session, masker, env
        self.work_dir, self.registry, self.cancel, self.on_change = work_dir, registry, cancel, on_change
        self.started_at = utc_now()
        self.t0 = time.monotonic()
        self.pipeline_name: str | None = None
        self.manifest_fp: str | None = None
        self.states: dict[str, StepState] = {}
        self._status_lock = threading.RLock()
        self._status_written = 0.0
        self._status_final = False
        self._status_timer: threading.Timer | None = None
        self.spec_registry: Any = None
        self.executor: Callable[..., ExecResult] = execute
        self._compile_result: CompileResult | None = None
        self._loaded: Compiled | None = None
        self._connections: ConnectionsFile | None = None
        self._ended = False

    def go(self) -> RunOutcome:
        options = self.request.exec_options or ExecOptions(work_dir=self.work_dir)
        options.work_dir = self.work_dir
        try:
            with masked_logging(self.masker, file=self.session.dir / "osiris.log", debug=options.debug):
                try:
                    return self._go(options)
                except Exception as error:
                    self._crashed(error)
                    raise
        finally:
            if not options.keep_spill:
                self.session.remove_tmp()
            self.session.close()

    def _go(self, options: ExecOptions) -> RunOutcome:
        request, events = self.request, self.session.events
        source = str(request.pipeline if request.pipeline is not None else request.manifest_dir)
        events.emit(
            "run_start",
            source=source,
            mode="pipeline" if request.pipeline else "manifest",
            work_dir=str(self.work_dir),
            osiris_version=_version(),
            python=platform.python_version(),
            pid=os.getpid(),
            params=dict(request.params),
            profile=request.profile,
        )
        self._write_status("running")
        outcome = self._prepare()
        if outcome is not None:
            return outcome
        if self.cancel.is_set():  # Ctrl-C or SIGTERM while compiling: no step starts
            return self._finish("cancelled")
        assert self._loaded is not None
        manifest, cfgs, meta = self._loaded.manifest, self._loaded.cfgs, self._loaded.meta
        options.sources = self._loaded.sources.citations() if self._loaded.sources is not None else {}
        self.pipeline_name = manifest.pipeline.name
        self.manifest_fp = meta.get("fingerprints", {}).get("manifest_fp")
        conns = self._connections  # the file the compile or the manifest check used, not read again
        options.path_roots = conns.roots if conns is not None else ()
        options.protected_files = protected_files(self.work_dir, conns)
        self.states = {}
        result = self.executor(
            manifest,
            cfgs,
            events=events,
            metrics=self.session.metrics,
            tmp_dir=self.session.tmp_dir,
            connections=RuntimeConnections(conns, self.masker, self.env, UnencryptedNotices(events.emit)),
            registry=self.registry,
            cancel=self.cancel,
            options=options,
            on_change=self._changed,
        )
        self.states = result.steps
        self._write_schemas(result)
        return self._finish(result.status, result=result)

    def _prepare(self) -> RunOutcome | None:
        """Compile into compiled/ (or copy the given manifest there); an outcome when that fails."""
        request, events = self.request, self.session.events
        compiled = self.session.compiled_dir
        if request.manifest_dir is not None:
            # pydantic's models, imported only to verify a directory from elsewhere (~80 ms)
            from osiris.compiler.manifest import ManifestError, load_manifest, read_sources

            try:  # first: the operator's roots and base_dirs are part of checking the manifest's paths
                self._connections = load_connections_file(request.connections, self.work_dir, self.spec_registry)
            except ConnectionsUnavailable as error:
                return self._abort("connections_error", str(error), error.diagnostics)
            # Verified where the user put it, so errors name their path, not the session's copy;
            # an untrusted manifest is checked whole before anything runs (compiler/manifest_verify.py).
            source = _absolute(request.manifest_dir, self.work_dir)
            verified: dict[str, bytes] = {}
            try:
                manifest, cfgs, meta = load_manifest(
                    source, label=str(request.manifest_dir), registry=self.spec_registry,
                    project_root=self.work_dir, connections=self._connections or _no_connections(),
                    env=self.env, keep=verified,
                )
                copied = _copy_manifest(source, compiled, verified)
                self._loaded = Compiled(manifest, cfgs, meta, read_sources(copied.get("sourcemap.json")))
            except ManifestError as error:
                return self._abort("manifest_error", str(error), error.diagnostics)
            except OSError as error:
                return self._abort("manifest_error", f"cannot copy {request.manifest_dir}: {error.strerror or error}")
            events.emit("manifest_loaded", path=str(request.manifest_dir))
            return None
        t0 = time.monotonic()
        options = CompileOptions(
            discovered=_cached_table,
            connections=Path(request.connections) if request.connections else None,
            connections_label=request.connections,
            params=dict(request.params),
            profile=request.profile,
            env=self.env,
            cwd=self.work_dir,
        )
        label = str(request.pipeline)
        result = compile_path(
            _absolute(Path(label), self.work_dir), options, registry=self.spec_registry, label=label
        )
        duration = int((time.monotonic() - t0) * 1000)
        counts = {
            sev: sum(1 for d in result.diagnostics if d.severity == sev) for sev in ("error", "warning")
        }
        if not result.ok:
            events.emit(
                "compile_error",
                duration_ms=duration,
                errors=counts["error"],
                warnings=counts["warning"],
                diagnostics=[diagnostic_json(d) for d in result.diagnostics],
            )
            self._compile_result = result
            return self._finish(
                "failed",
                error={"stage": "compile", "message": f"the pipeline has {counts['error']} compile error(s)"},
            )
        self._connections = result.connections
        if self.cancel.is_set():  # Ctrl-C or SIGTERM while compiling: not even the output is written
            return self._finish("cancelled")
        write_output(result, compiled)
        # The run uses what the compile built, not the files it just wrote: reading manifest.yaml
        # back (pure-Python YAML) and re-verifying every cfg took six times the compile itself.
        assert result.compiled is not None
        self._loaded = result.compiled
        events.emit(
            "compile_complete",
            duration_ms=duration,
            warnings=counts["warning"],
            diagnostics=[diagnostic_json(d) for d in result.diagnostics],
            output="compiled",
            manifest_fp=self._loaded.meta.get("fingerprints", {}).get("manifest_fp"),
        )
        self._compile_result = result
        return None

    def _abort(self, event: str, message: str, diagnostics: list[Diagnostic] | None = None) -> RunOutcome:
        self.session.events.emit(event, message=message, diagnostics=[diagnostic_json(d) for d in diagnostics or []])
        error = {"stage": event.removesuffix("_error"), "message": message}
        if diagnostics:
            error["code"] = diagnostics[0].code
        outcome = self._finish("failed", error=error)
        outcome.diagnostics = [*outcome.diagnostics, *(diagnostics or [])]
        return outcome

    def _finish(
        self, status: str, *, result: ExecResult | None = None, error: dict[str, Any] | None = None
    ) -> RunOutcome:
        duration = int((time.monotonic() - self.t0) * 1000)
        peak = round(peak_rss_bytes() / 2**20, 1)
        with self._status_lock:
            if self._status_timer is not None:
                self._status_timer.cancel()
                self._status_timer = None
        document = self._write_status(status, finished=True, error=error, peak_rss_mb=peak)
        failed = [s.id for s in self.states.values() if s.status == "failed"]
        self.session.metrics.emit("run_duration_ms", duration, "ms")
        self.session.metrics.emit("run_peak_rss_mb", peak, "MiB")
        self.session.events.emit(
            "run_end",
            status=status,
            ok=status == "succeeded",
            duration_ms=duration,
            rows_read=document["totals"]["rows_read"],
            rows_written=document["totals"]["rows_written"],
            failed_steps=failed,
            **({"error": error} if error else {}),
        )
        self._ended = True
        code = {"succeeded": 0, "failed": 1, "cancelled": 130}[status]
        outcome = RunOutcome(code, document, self.session, self.masker, result=result)
        outcome.compile_result = self._compile_result
        if self._compile_result is not None:
            outcome.diagnostics = list(self._compile_result.diagnostics)
        return outcome

    def _crashed(self, error: Exception) -> None:
        """End the session as failed after an unexpected error, so it is not left `running`.

        The caller re-raises: the CLI still reports the internal error.
        """
        if self._ended:
            return
        message = f"{type(error).__name__}: {error}".rstrip(": ")
        try:
            self._finish("failed", error={"stage": "internal", "message": message})
        except Exception:  # noqa: BLE001 - the original error is the one to report
            logging.getLogger("osiris.runtime").warning("could not record the failed run", exc_info=True)

    def _changed(self, state: StepState) -> None:
        self.states[state.id] = state
        self._status_changed()
        if self.on_change is not None:
            self.on_change(state)

    def _status_changed(self) -> None:
        """Write status.json for a step change, at most once every STATUS_INTERVAL_S.

        Rewriting and masking the whole document on every transition made a 300-step run ten
        times slower. A change inside the interval schedules one trailing write instead, so the
        file is never more than the interval behind a long-running step; `_finish` always
        writes the final document.
        """
        with self._status_lock:
            if self._status_final or self._status_timer is not None:
                return
            delay = self._status_written + STATUS_INTERVAL_S - time.monotonic()
            if delay > 0:
                self._status_timer = threading.Timer(delay, self._status_due)
                self._status_timer.daemon = True
                self._status_timer.start()
                return
            self._write_status("running")

    def _status_due(self) -> None:
        with self._status_lock:
            self._status_timer = None
            if not self._status_final:  # a late timer must not overwrite the final status
                self._write_status("running")

    def _write_status(
        self,
        status: str,
        *,
        finished: bool = False,
        error: dict[str, Any] | None = None,
        peak_rss_mb: float | None = None,
    ) -> dict[str, Any]:
        with self._status_lock:
            self._status_final = self._status_final or finished
            document = build_status(
                session_id=self.session.id,
                pipeline=self.pipeline_name,
                status=status,
                started_at=self.started_at,
                finished_at=utc_now() if finished else None,
                duration_ms=int((time.monotonic() - self.t0) * 1000),
                states=dict(self.states),
                manifest_fp=self.manifest_fp,
                error=error,
                source=str(self.request.pipeline or self.request.manifest_dir),
                peak_rss_mb=peak_rss_mb,
            )
            written = self.session.write_status(document)
            self._status_written = time.monotonic()
            return written

    def _write_schemas(self, result: ExecResult) -> None:
        schemas = {}
        for step_id, runner in result.runners.items():
            if runner.schema is not None:
                schemas[step_id] = [
                    {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in runner.schema
                ]
        if schemas:
            self.session.write_artifact("schemas.json", schemas)


def _copy_manifest(source: Path, target: Path, verified: Mapping[str, bytes]) -> dict[str, bytes]:
    """Write the files of a verified manifest directory into the session (nothing else: no
    links, no extra files): the bytes that were verified, never the files read again (one
    swapped in after the check would be what the session, the report and a sandbox get);
    the optional files nothing runs (sourcemap.json, ...) are read once, and skipped when missing
    or not a plain file within the size limit (a link, FIFO, directory or huge file).
    Returns what was written, by relative path."""
    from osiris.compiler.manifest import COPIED, OPTIONAL, ManifestError, read_regular

    written: dict[str, bytes] = {}
    for name in COPIED:
        data = verified.get(name)
        if data is None:
            try:
                data = read_regular(source / name, name)
            except ManifestError:
                if name in OPTIONAL:
                    continue  # optional and unverified: a missing or unreadable one costs what it adds
                raise
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
        written[name] = data
    return written


def _cached_table(ref: str, table: str) -> Any:
    """The discovery cache's view of a table, for the compiler's cursor check (OML047)."""
    from osiris.runtime.discovery_cache import cached_table

    return cached_table(ref, table)


def _no_connections() -> ConnectionsFile:
    """What verification checks connection references against when there is no connections
    file: no alias is defined, so a step that needs one is refused before anything runs."""
    return ConnectionsFile(path="(no connections file)")


def _version() -> str:
    from osiris.compiler import __version__

    return __version__


__all__ += ["SessionError"]
