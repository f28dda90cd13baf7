"""Incremental state kept by the file writers: one JSON file per step, next to the target.

`<target's directory>/.osiris-state/<pipeline>/<step>.json`, locally or under the same prefix
of an object store (the leading dot keeps dataset readers from taking it for data). A file
cannot share a transaction with another file, so the order is what keeps the state honest:
the new state is collected and checked against the stored one (`pending_state`) before the
data is published (and before anything is written, for an object-store dataset:
`check_unchanged`), and written right after it (`commit_state`). A run that fails before the
data is published changes neither; a crash between the two renames leaves the data newer
than the state, so the next run reads that window again. A row is never skipped. An
object-store dataset commits its state inside its publish intent (`state_objects`,
drivers/common/store_publish.py), so data and state are committed by one PUT; until the
intent is finished, the state is read from it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from osiris.drivers.common.objectstore import is_store_uri, open_store, store_error
from osiris.drivers.common.paths import resolve_config_path
from osiris.drivers.common.store_publish import STATE_DIR, read_intent, state_folder
from osiris.runtime.driver import DriverError, StepContext
from osiris.runtime.incremental import StateRecord

__all__ = ["FileStateKeeper", "check_unchanged", "commit_state", "pending_state", "state_objects"]


class _Place:
    """Where one writer's state files live: a local directory or an object-store prefix."""

    def __init__(self, ctx: StepContext, raw_path: str) -> None:
        self.fs: Any = None
        self._committed: dict[str, str] | None = None
        if is_store_uri(raw_path):
            location = open_store(ctx.connection, raw_path)
            self.fs, self.target, self.base = location.fs, location.path, state_folder(location.path)
        else:
            self.base = str(resolve_config_path(ctx, raw_path).parent / STATE_DIR)

    def _file_of(self, pipeline: str, step: str) -> str:
        return posixpath.join(self.base, pipeline, f"{step}.json") if self.fs else \
            os.path.join(self.base, pipeline, f"{step}.json")

    def committed(self) -> dict[str, str]:
        """State files committed by an unfinished publish into the target (path -> text)."""
        if self._committed is None:
            intent = read_intent(self.fs, self.target) if self.fs is not None else None
            self._committed = dict(intent.states) if intent is not None else {}
        return self._committed

    def read(self, pipeline: str, step: str) -> str | None:
        name = self._file_of(pipeline, step)
        if name in self.committed():
            return self.committed()[name]
        try:
            if self.fs is None:
                return Path(name).read_text(encoding="utf-8")
            with self.fs.open_input_stream(name) as stream:
                return stream.read().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as error:
            if self.fs is not None and ("not found" in str(error).lower() or "NoSuchKey" in str(error)):
                return None
            raise _failed(error, "read the incremental state") from None

    def steps(self, pipeline: str) -> list[str]:
        folder = posixpath.join(self.base, pipeline) if self.fs else os.path.join(self.base, pipeline)
        try:
            if self.fs is None:
                names = os.listdir(folder)
            else:
                from pyarrow import fs as pafs

                names = [posixpath.basename(i.path) for i in self.fs.get_file_info(pafs.FileSelector(folder))]
        except (FileNotFoundError, NotADirectoryError):
            names = []
        except (OSError, pa.ArrowException) as error:
            if self.fs is None:
                raise _failed(error, "list the incremental state") from None
            names = []
        names += [posixpath.basename(path) for path in self.committed() if posixpath.dirname(path) == folder]
        return sorted({n.removesuffix(".json") for n in names if n.endswith(".json")})

    def write(self, pipeline: str, step: str, text: str) -> None:
        name = self._file_of(pipeline, step)
        try:
            if self.fs is not None:
                with self.fs.open_output_stream(name) as stream:  # one PUT: the object appears whole
                    stream.write(text.encode("utf-8"))
                return
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            temp = f"{name}.{os.getpid()}.tmp"
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, name)
        except (OSError, pa.ArrowException) as error:
            raise _failed(error, "write the incremental state") from None

    def delete(self, pipeline: str, step: str) -> bool:
        name = self._file_of(pipeline, step)
        if name in self.committed():
            raise DriverError(f"the state of step {step} is part of an unfinished publish into the target",
                              hint="run the pipeline (or any writer into that target) again to finish it, "
                                   "then reset")
        if self.read(pipeline, step) is None:
            return False
        try:
            if self.fs is None:
                os.remove(name)
            else:
                self.fs.delete_file(name)
        except FileNotFoundError:
            return False
        except (OSError, pa.ArrowException) as error:
            raise _failed(error, "reset the incremental state") from None
        return True


def _failed(error: BaseException, action: str) -> DriverError:
    if isinstance(error, pa.ArrowException):
        return store_error(error, f"cannot {action}")
    return DriverError(f"cannot {action}: {getattr(error, 'strerror', None) or error}")


def check_unchanged(ctx: StepContext, raw_path: str) -> None:
    """Fail before writing anything if another run moved a state this run started from (a
    multi-object publish cannot be taken back, so object stores check first)."""
    commit = getattr(ctx, "state_commit", None)
    if commit is None:
        return
    place = _Place(ctx, raw_path)
    for pipeline, step, stored in commit.expected():
        if place.read(pipeline, step) != stored:
            raise DriverError(
                f"the incremental state of step {step} changed while this run loaded it "
                "(another run of the pipeline committed first)",
                hint="run again to load from the new state",
            )


def pending_state(ctx: StepContext, raw_path: str) -> list[StateRecord]:
    """The states to commit with this write, each checked against what is stored now; call it
    before the data is published, so an unfinished read or a concurrent run publishes nothing."""
    commit = getattr(ctx, "state_commit", None)
    if commit is None:
        return []
    records = commit.records()
    check_unchanged(ctx, raw_path)
    return records


def state_objects(ctx: StepContext, raw_path: str, records: Sequence[StateRecord]) -> list[tuple[str, str]]:
    """(state object path, text) of `records` for an object-store target, to commit in its
    publish intent."""
    place = _Place(ctx, raw_path)
    return [(place._file_of(r.pipeline, r.step), r.state) for r in records]


def commit_state(ctx: StepContext, raw_path: str, records: Sequence[StateRecord]) -> None:
    """Write `records` next to the target, right after its data was published."""
    if not records:
        return
    place = _Place(ctx, raw_path)
    for record in records:
        place.write(record.pipeline, record.step, record.state)


class FileStateKeeper:
    """StateKeeper for the file writers (the `path` of their config names the target)."""

    def read_state(self, ctx: StepContext, pipeline: str, step: str) -> str | None:
        return _Place(ctx, _target(ctx)).read(pipeline, step)

    def list_state(self, ctx: StepContext, pipeline: str) -> dict[str, str]:
        place = _Place(ctx, _target(ctx))
        found = {step: place.read(pipeline, step) for step in place.steps(pipeline)}
        return {step: text for step, text in found.items() if text is not None}

    def reset_state(self, ctx: StepContext, pipeline: str, steps: Iterable[str]) -> int:
        place = _Place(ctx, _target(ctx))
        return sum(1 for step in steps if place.delete(pipeline, step))


def _target(ctx: StepContext) -> str:
    path = ctx.config.get("path")
    if not isinstance(path, str) or not path:
        raise DriverError("`path` is required")
    return path
