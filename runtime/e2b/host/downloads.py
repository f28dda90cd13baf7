"""Bring output files home: one background thread, verified and renamed into place atomically.

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

import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from osiris.compiler.files import file_sha256
from osiris.runtime.e2b.host.transport import Sandbox, TransportError, with_retries
from osiris.runtime.e2b.paths import Mount, host_path
from osiris.runtime.publish import publish
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
