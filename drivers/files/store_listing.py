"""What a reader of an object-store prefix, object or glob reads: the committed objects.

A publish into a dataset is committed by its intent (drivers/common/store_publish.py) before its
objects are copied into place. A reader that lists the prefix while the copies run, or after a
writer was killed among them, would see old and new objects side by side; this listing reads
through the intent instead: every object under the intent's target is taken from the staged
set it names, so a reader sees the dataset before the publish or after it, never a mix.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass

import pyarrow.fs as pafs

from osiris.drivers.common.store_publish import INTENT, TEMP_MARK, PublishIntent, read_intent
from osiris.runtime.driver import DriverError

__all__ = ["StoreObject", "list_committed"]


@dataclass(frozen=True)
class StoreObject:
    """One object to read: where its bytes are (`real`) and the name it has in the dataset."""

    real: str
    name: str
    size: int | None
    mtime: object


def _glob_base(path: str) -> str:
    return path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]


def _ancestors(path: str) -> list[str]:
    """`a/b/c` -> [`a/b`, `a`]: the folders a dataset holding `path` may be rooted at."""
    out = []
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        out.append(path)
    return out


def _visible(name: str, base: str) -> bool:
    """Data, not a temporary prefix, a state folder or a `_`/`.` marker (relative to `base`)."""
    return TEMP_MARK not in name and not any(part.startswith(("_", ".")) for part in name[len(base) + 1:].split("/"))


def list_committed(fs: pafs.FileSystem, path: str) -> tuple[list[StoreObject], str, bool]:
    """(objects in name order, the folder hive partitions are relative to, whether an unfinished
    publish was read through) for a prefix, one object or a glob (`bucket/key` form)."""
    glob = any(ch in path for ch in "*?[")
    base = _glob_base(path) if glob else path
    info = fs.get_file_info(base)
    if not glob and info.type == pafs.FileType.File:
        return _one_object(fs, info)
    listed = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    files = [i for i in listed if i.type == pafs.FileType.File]
    intents: dict[str, PublishIntent] = {}
    for folder in [*(i.path.rsplit("/", 1)[0] for i in files if i.path.endswith("/" + INTENT)), *_ancestors(base)]:
        if TEMP_MARK not in folder and (intent := read_intent(fs, folder)) is not None:
            intents[folder] = intent
    objects = [StoreObject(i.path, i.path, i.size, i.mtime) for i in files
               if not any(i.path.startswith(folder + "/") for folder in intents)]
    for folder, intent in intents.items():
        objects += [StoreObject(f"{intent.staged}/{name}", f"{folder}/{name}", None, None)
                    for name in intent.objects]
    objects = sorted((o for o in objects if (o.name.startswith(base + "/") or o.name == base)
                      and _visible(o.name, base) and (not glob or fnmatch.fnmatchcase(o.name, path))),
                     key=lambda o: o.name)
    covering = [folder for folder in intents if base == folder or base.startswith(folder + "/")]
    if covering:  # the whole read comes from one staged set: partitions relative to its copy of `base`
        folder = covering[0]
        return objects, intents[folder].staged + base[len(folder):], True
    return objects, base, bool(intents)


def _one_object(fs: pafs.FileSystem, info: pafs.FileInfo) -> tuple[list[StoreObject], str, bool]:
    folder_of = info.path.rsplit("/", 1)[0]
    for folder in [folder_of, *_ancestors(folder_of)]:
        if TEMP_MARK in folder or (intent := read_intent(fs, folder)) is None:
            continue
        name = info.path[len(folder) + 1:]
        if name not in intent.objects:
            raise DriverError(f"{info.path} is not in the dataset committed at {folder} (its publish is "
                              "unfinished and removes it)", hint="read the dataset's prefix instead")
        return [StoreObject(f"{intent.staged}/{name}", info.path, None, None)], \
            posixpath.dirname(f"{intent.staged}/{name}"), True
    return [StoreObject(info.path, info.path, info.size, info.mtime)], folder_of, False
