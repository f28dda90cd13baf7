"""Bring output files home: one background thread, verified and renamed into place atomically.

A dataset directory (a Parquet writer with partition_by or rotation) comes home the same way,
file by file into a hidden staging directory, and is swapped into place whole (`_fetch_dataset`).

Each declared output the sandbox reports ready (the host chose the path, runtime/e2b/host/executor.py)
is copied to a hidden temp name beside its target, checked against the size and sha256 the
worker computed, and renamed over the target, so a reader on the host sees the old file or
the whole new one, never a partial file. A writer with `overwrite: false` publishes without
clobbering (runtime.publish): a file that appeared at the target meanwhile stays. The copy
stops at the announced size (a file that keeps growing is refused), and a size larger than
the free space of the target's disk is refused before anything is written. Any failure
removes the temp file and is reported against the writer step.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from osiris.compiler.files import file_sha256
from osiris.runtime.e2b.host.transport import Sandbox, TransportError, with_retries
from osiris.runtime.e2b.paths import Mount, host_path
from osiris.runtime.publish import publish, publish_dir
from osiris.runtime.tempfiles import owned_temp_name, sweep_stale_temps

__all__ = ["Artifact", "Downloader", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".osiris-e2b-tmp"


@dataclass(frozen=True)
class Artifact:
    step_id: str
    mount: int
    path: str
    size: int
    sha256: str
    overwrite: bool = True
    files: tuple[tuple[str, int, str], ...] | None = None
    """A dataset directory's files (name under `path`, size, sha256); None for one file."""


class Downloader:
    def __init__(
        self,
        sandbox: Sandbox,
        mounts: list[Mount],
        *,
        retries: int,
        backoff_s: float,
        on_failure: Callable[[str, str], None],
    ) -> None:
        self.sandbox, self.mounts = sandbox, mounts
        self.retries, self.backoff_s = retries, backoff_s
        self.on_failure = on_failure
        self.bytes = 0
        self.files: list[str] = []
        self.seconds = 0.0
        self._queue: queue.Queue[Artifact | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="e2b-downloads", daemon=True)
        self._thread.start()

    def submit(self, artifact: Artifact) -> None:
        self._queue.put(artifact)

    def finish(self) -> None:
        """Wait until every submitted file is home (or reported as failed)."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            artifact = self._queue.get()
            if artifact is None:
                return
            started = time.monotonic()
            try:
                self._fetch(artifact)
            except Exception as error:  # noqa: BLE001 - any failure fails the step, never the downloader thread
                self.on_failure(
                    artifact.step_id,
                    f"could not download its output {artifact.path} from the sandbox: {error}",
                )
            finally:
                self.seconds += time.monotonic() - started

    def _fetch(self, artifact: Artifact) -> None:
        if artifact.files is not None:
            self._fetch_dataset(artifact, artifact.files)
            return
        target = host_path(self.mounts, artifact.mount, artifact.path)
        remote = f"{self.mounts[artifact.mount].sandbox.rstrip('/')}/{artifact.path}"
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
        if artifact.size > free:
            raise TransportError(f"it is {artifact.size} bytes, more than the {free} bytes free on the host's disk")
        sweep_stale_temps(target, TEMP_SUFFIX)
        temp = owned_temp_name(target, TEMP_SUFFIX)
        try:
            received = with_retries(
                lambda: self.sandbox.download(remote, temp, artifact.size),
                what=f"downloading {artifact.path}",
                attempts=self.retries,
                backoff_s=self.backoff_s,
            )
            digest = file_sha256(temp)
            if received != artifact.size or digest != artifact.sha256:
                raise TransportError(
                    f"the copy does not match the sandbox file ({received} of {artifact.size} "
                    "bytes, or a different sha256)"
                )
            try:
                publish(temp, target, overwrite=artifact.overwrite)
            except FileExistsError:
                raise TransportError(f"{artifact.path} already exists on the host and overwrite is false") from None
            self.bytes += received
            self.files.append(str(target))
        finally:
            if temp.exists():
                temp.unlink()

    def _fetch_dataset(self, artifact: Artifact, files: tuple[tuple[str, int, str], ...]) -> None:
        """Every file of a dataset directory into a hidden staging directory beside the target,
        each checked, then the directory swapped into the target's place in one step
        (runtime.publish.publish_dir), as the local writer does; nothing lands on a failure."""
        target = host_path(self.mounts, artifact.mount, artifact.path)
        if not artifact.overwrite and os.path.lexists(target):
            raise TransportError(f"{artifact.path} already exists on the host and overwrite is false")
        target.parent.mkdir(parents=True, exist_ok=True)
        need, free = sum(size for _, size, _ in files), shutil.disk_usage(target.parent).free
        if need > free:
            raise TransportError(f"it is {need} bytes, more than the {free} bytes free on the host's disk")
        sweep_stale_temps(target, TEMP_SUFFIX)
        staged = owned_temp_name(target, TEMP_SUFFIX)
        staged.mkdir()
        remote_dir = f"{self.mounts[artifact.mount].sandbox.rstrip('/')}/{artifact.path}"
        try:
            for name, size, sha256 in files:
                local = staged / name  # names were checked: relative, no `..`, nothing hidden
                local.parent.mkdir(parents=True, exist_ok=True)
                remote = f"{remote_dir}/{name}"
                received = with_retries(
                    lambda remote=remote, local=local, size=size: self.sandbox.download(remote, local, size),
                    what=f"downloading {artifact.path}/{name}",
                    attempts=self.retries,
                    backoff_s=self.backoff_s,
                )
                if received != size or file_sha256(local) != sha256:
                    raise TransportError(f"the copy of {name} does not match the sandbox file ({received} of "
                                         f"{size} bytes, or a different sha256)")
                self.bytes += received
            try:
                old = publish_dir(staged, target, overwrite=artifact.overwrite,
                                  aside=owned_temp_name(target, TEMP_SUFFIX))
            except FileExistsError:
                raise TransportError(f"{artifact.path} already exists on the host and overwrite is false") from None
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            self.files.append(str(target))
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)

