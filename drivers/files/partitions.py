"""Partitions of a Parquet read: runs of row groups, whole files when there are enough of them.

Why row groups: they are the smallest unit a Parquet reader can skip to without decoding the
rest, so a slice of a big file costs only its own bytes. Slices are contiguous runs of (file,
row group) units, balanced by row count; a spec names files relative to the configured path
(a worker may mount it elsewhere) and is matched back against the files the extract lists, so
it can never point outside them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow.parquet as pq

from osiris.runtime.driver import DriverError, Partition

__all__ = ["FileSlice", "plan_row_groups", "relative_name", "select_slices", "whole"]

FileSlice = tuple[str, dict[str, Any], range | None]
"""(file path, hive partition values, row groups to read or None for all)."""


def whole(why: str) -> list[Partition]:
    return [Partition(index=0, count=1, spec={"mode": "whole"}, label=f"one partition: {why}")]


def relative_name(file: str, base: str, is_dir: bool) -> str:
    """A file as a spec names it: relative to the configured directory ("" for a single file)."""
    return os.path.relpath(file, base) if is_dir else ""


def _units(files: Sequence[tuple[str, str]], count: int, filesystem: Any) -> list[tuple[str, range, int]]:
    """(name, row groups, rows) per file when at least `count` files hold row groups, else per row group."""
    groups = []
    for name, file in files:
        metadata = pq.read_metadata(file, filesystem=filesystem)
        groups.append((name, [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]))
    if sum(1 for _, rows in groups if rows) >= count:
        return [(name, range(len(rows)), sum(rows)) for name, rows in groups if rows]
    return [(name, range(i, i + 1), n) for name, rows in groups for i, n in enumerate(rows)]


def plan_row_groups(files: Sequence[tuple[str, str]], count: int, filesystem: Any = None) -> list[Partition]:
    """At most `count` slices over (name, path) `files` (on `filesystem`, an object store's, when
    given): whole files when there are at least `count` of them, else runs of row groups;
    contiguous and balanced by rows either way."""
    units = _units(files, count, filesystem)
    if count <= 1 or len(units) <= 1:
        return whole(f"{len(units)} row group(s)" if count > 1 else "one partition asked for")
    parts = min(count, len(units))
    weights = [rows for _, _, rows in units]
    total = sum(weights)
    if not total:
        weights, total = [1] * len(units), len(units)
    groups: list[list[tuple[str, int]]] = [[] for _ in range(parts)]
    before = 0
    for (name, indexes, _rows), weight in zip(units, weights, strict=True):
        groups[min(parts - 1, before * parts // total)].extend((name, index) for index in indexes)
        before += weight
    groups = [group for group in groups if group]
    return [Partition(index=i, count=len(groups), spec={"files": _runs(group)}, label=_label(group))
            for i, group in enumerate(groups)]


def _runs(group: list[tuple[str, int]]) -> list[list[Any]]:
    """[[name, first row group, end row group), ...] with consecutive row groups merged."""
    runs: list[list[Any]] = []
    for name, index in group:
        if runs and runs[-1][0] == name and runs[-1][2] == index:
            runs[-1][2] = index + 1
        else:
            runs.append([name, index, index + 1])
    return runs


def _label(group: list[tuple[str, int]]) -> str:
    names = sorted({name for name, _ in group})
    shown = names[0] or "the file"
    more = f" and {len(names) - 1} more file(s)" if len(names) > 1 else ""
    return f"{shown}{more}: {len(group)} row group(s)"


def select_slices(files: Sequence[tuple[str, dict[str, Any]]], names: Sequence[str],
                  spec: Mapping[str, Any]) -> list[FileSlice]:
    """The files (and row-group runs) one partition reads; a name the listing lacks is refused."""
    runs = spec.get("files")
    if not isinstance(runs, list):
        raise DriverError(f"malformed Parquet partition spec {dict(spec)!r}")
    by_name = {name: (path, keys) for name, (path, keys) in zip(names, files, strict=True)}
    chosen: list[FileSlice] = []
    for run in runs:
        name, first, end = run
        if name not in by_name:
            raise DriverError(f"partition file {name!r} is no longer among the files read",
                              hint="the directory changed between planning and reading; run the step again")
        path, keys = by_name[name]
        chosen.append((path, keys, range(int(first), int(end))))
    return chosen
