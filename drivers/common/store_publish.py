"""Publishing object-store writes: staged under a temporary prefix, committed by one object.

Object stores have no multi-object rename, so a dataset of many objects cannot appear at once.
What they do have is an atomic single-object PUT, and that is the commit point:

1. every object is written under a temporary prefix beside the target
   (`<target>.osiris-tmp-<token>/`); a failure here removes it and the target is untouched;
2. a publish intent (`<target>/_osiris_publish.json`) is PUT: the staged prefix, the objects,
   the target's old objects to remove and the incremental state files to write. From this
   moment the new dataset is committed: Osiris readers that find the intent read the staged
   objects it names (parquet_store.open_store_dataset), so they see the old dataset or the new
   one, never a mix;
3. the objects are copied into place (server-side), the old ones removed, the state written;
4. the intent is deleted, then the temporary prefix.

Steps 3-4 are idempotent. A run killed or failing after step 2 leaves the intent and its staged
objects; the next publish into the target finishes it first (`finish_publish`), and until then
readers read through it. A run killed before step 2 cannot remove its temporary prefix;
readers skip it, and the next publish into the target removes it once nothing has been
written there for a day (`sweep_abandoned`). A single object (`single`) is published by one server-side copy,
which is atomic by itself, and needs no intent.

The intent is read back from the store, which the connections file does not vouch for, so it is
validated before it is used: the staged prefix must be this target's, names must stay under it
and state files under the target's state folder. One writer per target at a time: two runs
publishing into one prefix at once are not coordinated.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from osiris.drivers.common.objectstore import StoreLocation, store_error
from osiris.runtime.driver import DriverError

__all__ = ["INTENT", "STATE_DIR", "TEMP_MARK", "PublishIntent", "StagedPrefix", "finish_publish", "read_intent"]

TEMP_MARK = ".osiris-tmp-"
INTENT = "_osiris_publish.json"
STATE_DIR = ".osiris-state"
PUBLISH_THREADS = 8
ABANDONED_AFTER = timedelta(hours=24)
"""A temporary prefix with no object this recent belongs to a run that was killed."""
_TOKEN = re.compile(r"[0-9a-f]{16}")


def state_folder(target: str) -> str:
    """Where the incremental state files of writers into `target` live (drivers/common/file_state.py)."""
    return posixpath.join(posixpath.dirname(target), STATE_DIR)


@dataclass(frozen=True)
class PublishIntent:
    """A committed dataset publish (see the module docstring); paths are `bucket/key`."""

    staged: str
    objects: tuple[str, ...]
    """Relative names under both the staged prefix and the target."""
    remove: tuple[str, ...]
    """The target's old objects the new set does not overwrite."""
    states: tuple[tuple[str, str], ...] = ()
    """(state file path, its text) to write once the objects are in place."""

    def to_bytes(self) -> bytes:
        return json.dumps({"version": 1, "staged": self.staged, "objects": list(self.objects),
                           "remove": list(self.remove), "states": [list(s) for s in self.states]},
                          sort_keys=True).encode("utf-8")

    @classmethod
    def parse(cls, raw: bytes, target: str) -> PublishIntent:
        """The intent stored for `target`, or a DriverError when it is not one Osiris would write."""
        try:
            data = json.loads(raw)
            staged, objects, remove, states = data["staged"], data["objects"], data["remove"], data["states"]
            ok = (data.get("version") == 1 and isinstance(staged, str) and staged.startswith(target + TEMP_MARK)
                  and _TOKEN.fullmatch(staged[len(target + TEMP_MARK):]) is not None
                  and all(_relative(n) for n in [*objects, *remove])
                  and all(isinstance(s, list) and len(s) == 2 and isinstance(s[1], str)
                          and _under(s[0], state_folder(target)) for s in states))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise DriverError(f"{target}/{INTENT} is not a publish intent Osiris wrote",
                              hint=f"inspect it; remove it (and any {TEMP_MARK}* prefix beside the target) "
                                   "to keep the objects now under the target")
        return cls(staged, tuple(objects), tuple(remove), tuple((s[0], s[1]) for s in states))


def _relative(name: Any) -> bool:
    return (isinstance(name, str) and bool(name) and not name.startswith("/")
            and all(part not in ("", ".", "..") for part in name.split("/")))


def _under(path: Any, folder: str) -> bool:
    return (isinstance(path, str) and path.startswith(folder + "/") and path.endswith(".json")
            and _relative(path[len(folder) + 1:]))


def read_intent(fs: pafs.FileSystem, target: str) -> PublishIntent | None:
    """The unfinished publish into the dataset at `target`, if there is one."""
    try:
        with fs.open_input_stream(f"{target}/{INTENT}") as stream:
            raw = stream.read(1 << 24)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as error:
        text = str(error)
        if "not found" in text.lower() or "NoSuchKey" in text or "does not exist" in text.lower():
            return None
        raise store_error(error, f"cannot read {target}/{INTENT}") from None
    return PublishIntent.parse(raw, target)


def finish_publish(fs: pafs.FileSystem, target: str, intent: PublishIntent) -> None:
    """Move a committed publish into place (idempotent: a rerun after a crash is harmless)."""
    for name in intent.objects:  # one at a time: a server that answers a copy only when done (moto) must
        fs.copy_file(f"{intent.staged}/{name}", f"{target}/{name}")  # answer within the SDK's 3 s

    def remove(name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(f"{target}/{name}")

    _each(remove, intent.remove)
    for path, text in intent.states:
        with fs.open_output_stream(path) as stream:  # one PUT: the state appears whole
            stream.write(text.encode("utf-8"))
    fs.delete_file(f"{target}/{INTENT}")
    _remove_prefix(fs, intent.staged, intent.objects)


def _each(action: Callable[[str], None], names: Sequence[str]) -> None:
    """`action` on every name, PUBLISH_THREADS requests at a time (deletes: a dataset of many
    parts has as many objects to remove twice); the first error is raised once all have ended."""
    if len(names) < 2:
        for name in names:
            action(name)
        return
    from concurrent.futures import ThreadPoolExecutor  # object stores only: every local write imports this module

    with ThreadPoolExecutor(max_workers=min(PUBLISH_THREADS, len(names))) as pool:
        futures = [pool.submit(action, name) for name in names]
    for future in futures:
        future.result()


def _remove_prefix(fs: pafs.FileSystem, prefix: str, names: Sequence[str]) -> None:
    """Delete a temporary prefix (quietly: what matters has happened or failed already)."""

    def remove(name: str) -> None:
        with contextlib.suppress(Exception):
            fs.delete_file(f"{prefix}/{name}")

    _each(remove, names)
    with contextlib.suppress(Exception):
        fs.delete_dir(prefix)


def sweep_abandoned(fs: pafs.FileSystem, target: str) -> list[str]:
    """Remove the temporary prefixes beside `target` that runs killed before their commit left
    (no object written for ABANDONED_AFTER: a writer still running writes parts). Quiet: a
    failed sweep leaves only what readers skip anyway. Returns the prefixes removed."""
    parent, _, name = target.rpartition("/")
    now, removed = datetime.now(UTC), []
    with contextlib.suppress(Exception):
        for info in fs.get_file_info(pafs.FileSelector(parent, recursive=False, allow_not_found=True)):
            base = info.path.rpartition("/")[2]
            if info.type != pafs.FileType.Directory or not base.startswith(name + TEMP_MARK) \
                    or _TOKEN.fullmatch(base[len(name + TEMP_MARK):]) is None:
                continue
            objects = [o for o in fs.get_file_info(pafs.FileSelector(info.path, recursive=True))
                       if o.type == pafs.FileType.File]
            if all(o.mtime is not None and now - o.mtime > ABANDONED_AFTER for o in objects):
                _remove_prefix(fs, info.path, [o.path[len(info.path) + 1:] for o in objects])
                removed.append(info.path)
    return removed


@dataclass
class StagedPrefix:
    """Objects written under a temporary prefix, published into the target all together (see
    the module docstring). `location.path` is `bucket/key`: a prefix (dataset) or one object."""

    location: StoreLocation
    single: bool
    overwrite: bool
    states: list[tuple[str, str]] = field(default_factory=list)
    """(state file path, text) to commit with a dataset's objects (set before the publish)."""

    def __post_init__(self) -> None:
        self.fs, self.target = self.location.fs, self.location.path
        if "/" not in self.target:  # a dataset's temporary prefix would be another bucket
            raise DriverError(f"cannot write {self.location.shown}: it names a bucket, not an object or a prefix",
                              hint="add a key after the bucket, e.g. s3://bucket/out/data.parquet or "
                                   "s3://bucket/orders/")
        self.temp = f"{self.target}{TEMP_MARK}{secrets.token_hex(8)}"
        self.written: list[str] = []
        """Relative names written under the temporary prefix."""
        self.carries_state = not self.single
        """A dataset's state rides in its intent; a single object's is written after its copy."""
        self.committing = self.committed = False
        """Whether the intent's PUT was sent, and whether it succeeded."""

    def path(self, name: str) -> str:
        """Where to write object `name` (relative to the target prefix) while the step runs."""
        self.written.append(name)
        return f"{self.temp}/{name}"

    def _existing(self) -> list[str]:
        """Objects now under the target (relative names, the intent left out); [] when none."""
        if self.single:
            info = self.fs.get_file_info(self.target)
            return [""] if info.type == pafs.FileType.File else []
        selector = pafs.FileSelector(self.target, recursive=True, allow_not_found=True)
        return sorted(name for name in (info.path[len(self.target) + 1:] for info in self.fs.get_file_info(selector)
                                        if info.type == pafs.FileType.File and TEMP_MARK not in info.path)
                      if name != INTENT)

    def publish(self) -> None:
        if self.single:
            if self._existing() and not self.overwrite:
                raise self._exists()
            self.fs.copy_file(f"{self.temp}/{self.written[0]}", self.target)
            self.committed = True
            self.discard()
            sweep_abandoned(self.fs, self.target)
            return
        leftover = read_intent(self.fs, self.target)
        if leftover is not None:  # a killed run's committed publish: it happened, finish it first
            finish_publish(self.fs, self.target, leftover)
        existing = self._existing()
        if existing and not self.overwrite:
            raise self._exists()
        intent = PublishIntent(self.temp, tuple(self.written), tuple(sorted(set(existing) - set(self.written))),
                               tuple(self.states))
        payload = intent.to_bytes()  # before the stream opens: closing it is the PUT
        self.committing = True
        with self.fs.open_output_stream(f"{self.target}/{INTENT}") as stream:
            stream.write(payload)
        self.committed = True
        finish_publish(self.fs, self.target, intent)
        sweep_abandoned(self.fs, self.target)

    def _exists(self) -> DriverError:
        return DriverError(f"{self.location.shown} already exists and overwrite is false",
                           hint="set `overwrite: true` or remove the objects")

    def discard(self) -> None:
        """Remove the temporary prefix (quietly: the step's own error matters more)."""
        _remove_prefix(self.fs, self.temp, self.written)

    @contextlib.contextmanager
    def session(self) -> Iterator[StagedPrefix]:
        """Yield self; publish on success. On any failure (Cancelled and Ctrl-C included) before
        the commit, discard; after it, keep the intent and its objects for the next publish."""
        try:
            yield self
            self.publish()
        except BaseException as error:
            if not self.committed:
                if self.committing:  # the PUT may have landed though the reply did not
                    with contextlib.suppress(Exception):
                        self.fs.delete_file(f"{self.target}/{INTENT}")
                self.discard()
            store_failure = isinstance(error, (pa.ArrowException, OSError))
            if self.committed and not self.single and isinstance(error, Exception):
                cause = store_error(error, "moving it into place failed") if store_failure else error
                raise DriverError(f"the new {self.location.shown} is committed ({INTENT}), but {cause}",
                                  hint="Osiris readers already read the new objects; the next write to "
                                       "this target finishes the move") from None
            if store_failure:
                raise store_error(error, f"cannot write {self.location.shown}") from None
            raise
