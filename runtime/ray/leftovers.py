"""Staging tables a killed Ray run left behind: recorded before they exist, dropped by the next run.

The coordinator publishes staged partitions itself; if it is killed first, no target has
changed, but the staging tables stay. Before the first partition is staged, the coordinator
writes what it is about to stage (step, component, connection reference, config, token; no
secret) to its session's tmp/ folder, which a finished run removes. The next Ray run in the
same sessions folder looks for such files in sessions whose process is gone and drops their
staging tables through the same drivers (`StagedWriter.discard`), then removes the record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from osiris.compiler.files import open_private
from osiris.runtime.status import unfinished_state

__all__ = ["RECORD", "record_staging", "stale_records"]

RECORD = "ray-staging.json"


def record_staging(tmp_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Write (replace) this run's staging record; `entries` are plain, secret-free data."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with open_private(tmp_dir / RECORD, "w") as handle:
        json.dump({"staged": entries}, handle, sort_keys=True)


def stale_records(sessions_root: Path, current: Path) -> Iterable[tuple[Path, list[dict[str, Any]]]]:
    """(record path, entries) for every staging record of a session whose process is gone."""
    if not sessions_root.is_dir():
        return
    for session in sorted(sessions_root.iterdir()):
        record = session / "tmp" / RECORD
        if session == current or not record.is_file() or record.is_symlink():
            continue
        if unfinished_state(_events(session / "events.jsonl"))[0] == "running":
            continue  # that run is alive: its staging tables are in use
        try:
            entries = json.loads(record.read_text(encoding="utf-8"))["staged"]
        except (OSError, ValueError, KeyError, TypeError):
            logging.getLogger("osiris.runtime").warning("unreadable staging record %s", record)
            continue
        if isinstance(entries, list):
            yield record, [e for e in entries if isinstance(e, dict)]


def sweep(sessions_root: Path, current: Path, discard: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Drop the staging tables of dead runs with `discard(entry)`; returns the entries swept."""
    swept = []
    for record, entries in stale_records(sessions_root, current):
        failed = False
        for entry in entries:
            try:
                discard(entry)
                swept.append({**entry, "session": record.parent.parent.name})
            except Exception as error:  # noqa: BLE001 - keep the record for the next run to try again
                failed = True
                logging.getLogger("osiris.runtime").warning(
                    "could not drop the staging tables of %s in session %s: %s",
                    entry.get("step_id"), record.parent.parent.name, error)
        if not failed:
            record.unlink(missing_ok=True)
    return swept


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
