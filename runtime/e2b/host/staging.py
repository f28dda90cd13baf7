"""Before a sandbox exists: which host files go in, where, and which configs cannot run there.

Filesystem steps name files by config `path`. Relative paths (the documented form) resolve
against the working directory, or the `base_dir` of an `@filesystem` connection; both map to
sandbox directories (mounts). An extractor's input file (or directory) is uploaded to the
same relative place, so the driver opens the "same" path. Absolute paths and `..` escapes
would make the sandbox write somewhere the host cannot mirror, so they are refused here,
with the step named, before any sandbox is paid for.

The host also decides here, from the manifest alone, which file each filesystem writer
declares (`Staging.outputs`): those are the only files it will ever download, whatever the
sandbox reports. And it uploads only what the path policy lets the step read on the host
(a link inside the project that leads out of the granted roots is refused, as locally), and
never the connections file, whose secrets reach the worker only over its stdin. Object-store
paths (s3://, gs://, az://) are neither uploaded nor downloaded: the worker reaches the store
itself with the step's alias, as the local backend does.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compiler.manifest_records import Manifest
from osiris.compiler.path_policy import PathRefused, confine_real, path_roots, store_scheme, writes_dataset
from osiris.runtime.connections import step_ref
from osiris.runtime.driver import DriverError
from osiris.runtime.e2b.host.transport import UploadFile
from osiris.runtime.e2b.paths import Mount, locate

__all__ = ["Preflight", "Staging", "StagingRefused", "preflight", "stage"]


@dataclass(frozen=True)
class Preflight:
    """A step that cannot run in a sandbox as configured."""

    step_id: str
    message: str
    hint: str


class StagingRefused(Exception):
    """An input the host will not upload (found while staging, after the sandbox exists)."""

    def __init__(self, problem: Preflight) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Staging:
    root: str
    mounts: list[Mount]
    uploads: list[UploadFile] = field(default_factory=list)
    outputs: dict[str, tuple[int, str]] = field(default_factory=dict)
    """step id -> (mount index, normalised relative POSIX path) of the file (or dataset
    directory) a writer declares."""
    datasets: set[str] = field(default_factory=set)
    """Writers whose declared output is a dataset directory (partition_by, rotation, a path ending in /)."""
    keep_existing: set[str] = field(default_factory=set)
    """Writers with `overwrite: false`: their download must never replace a file on the host."""

    @property
    def work(self) -> str:
        return self.mounts[0].sandbox

    def map_dir(self, host_dir: str) -> str:
        """The sandbox directory for a host directory, adding a mount when it is outside the others."""
        target = Path(host_dir).expanduser()
        target = (Path(self.mounts[0].host) / target if not target.is_absolute() else target).resolve()
        for mount in self.mounts:
            base = Path(mount.host)
            if target == base or base in target.parents:
                return str(PurePosixPath(mount.sandbox) / target.relative_to(base).as_posix())
        mount = Mount(str(target), f"{self.root}/mnt/{len(self.mounts)}")
        self.mounts.append(mount)
        return mount.sandbox

    def to_sandbox(self, host_file: Path) -> str:
        return self.map_dir(str(host_file.parent)) + "/" + host_file.name


def preflight(manifest: Manifest, cfgs: Mapping[str, Mapping[str, Any]]) -> list[Preflight]:
    """Steps whose file paths a sandbox cannot mirror (checked before a sandbox is created)."""
    problems = []
    for step in manifest.steps:
        raw = cfgs.get(step.id, {}).get("path")
        if step.family == "filesystem" and isinstance(raw, str) and raw and store_scheme(raw) is None:
            problem = _check_path(step.id, raw)
            if problem is not None:
                problems.append(problem)
    return problems


def stage(
    manifest: Manifest,
    cfgs: Mapping[str, Mapping[str, Any]],
    connections: Any,
    work_dir: Path,
    root: str,
) -> Staging:
    """Mounts and uploads for a manifest that `preflight` found no problems in (StagingRefused
    when an input must not be uploaded)."""
    staging = Staging(root, [Mount(str(Path(work_dir).resolve()), f"{root}/work")])
    file = getattr(connections, "file", None)
    extra_roots = tuple(getattr(file, "roots", ()) or ())
    secret_file = os.path.realpath(file.path) if isinstance(getattr(file, "path", None), str) else None
    for step in manifest.steps:
        cfg = cfgs.get(step.id, {})
        raw = cfg.get("path")
        if step.family != "filesystem" or not isinstance(raw, str) or not raw or store_scheme(raw) is not None:
            continue  # an object-store path is reached from the sandbox itself: nothing to upload or download
        base = _base_dir(step_ref(step.family, step.connection, connections), connections)
        host_base = Path(staging.mounts[0].host) if base is None else _absolute(base, staging.mounts[0].host)
        # Mount a base_dir itself first (the payload maps it the same way), so its files land under it.
        sandbox_base = staging.map_dir(str(host_base))
        host_file = host_base / os.path.normpath(raw)
        if step.kind == "extractor":
            roots = path_roots(staging.mounts[0].host, extra_roots, str(host_base))
            staging.uploads += _inputs(staging, host_file, step.id, roots, secret_file)
        elif step.kind == "writer":
            # Where the worker will write it: the (mapped) base plus the config path, as it computes it.
            where = locate(staging.mounts, posixpath.normpath(f"{sandbox_base}/{Path(raw).as_posix()}"))
            if where is not None:
                staging.outputs[step.id] = where
                if step.component == "filesystem.parquet_writer" and writes_dataset(cfg, raw):
                    staging.datasets.add(step.id)
            if cfg.get("overwrite") is False:
                staging.keep_existing.add(step.id)
            if cfg.get("overwrite") is False and host_file.exists():
                # The driver refuses to replace an existing file; let it see one, so it fails as locally.
                staging.uploads.append(UploadFile(staging.to_sandbox(host_file), b""))
    return staging


def _check_path(step_id: str, raw: str) -> Preflight | None:
    hint = (
        "write paths relative to the working directory (or give the step a @filesystem connection "
        "with base_dir); the sandbox mirrors only those"
    )
    if raw.startswith("~") or Path(raw).is_absolute():
        return Preflight(step_id, f"absolute path {raw} cannot be used in an E2B sandbox run", hint)
    if os.path.normpath(raw).split(os.sep)[0] == "..":
        return Preflight(
            step_id, f"path {raw} leaves the working directory, which an E2B sandbox run cannot mirror", hint
        )
    return None


def _base_dir(ref: Any, connections: Any) -> str | None:
    if not ref:
        return None
    try:
        resolved = connections.resolve(str(ref))
    except DriverError:
        return None  # the step fails in the sandbox with the same message as locally
    if resolved.family != "filesystem" or not resolved.get("base_dir"):
        return None
    return str(resolved.get("base_dir"))


def _absolute(path: str, base: str) -> Path:
    candidate = Path(path).expanduser()
    return (candidate if candidate.is_absolute() else Path(base) / candidate).resolve()


def _inputs(
    staging: Staging, host_file: Path, step_id: str, roots: tuple[str, ...], secret_file: str | None
) -> list[UploadFile]:
    """The file, or every visible file under the directory; nothing when it does not exist."""
    if host_file.is_file():
        candidates = [host_file]
    elif host_file.is_dir():
        candidates = [
            path
            for path in sorted(host_file.rglob("*"))
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(host_file).parts)
        ]
    else:
        return []
    found = []
    for path in candidates:
        try:
            # the path policy refuses the connections file (by name, or `secret_file` under any name)
            confine_real(path, os.path.relpath(path, staging.mounts[0].host), roots,
                         (secret_file,) if secret_file else ())
        except PathRefused as error:
            raise StagingRefused(Preflight(step_id, str(error), error.hint)) from None
        found.append(UploadFile(staging.to_sandbox(path), path))
    return found
