"""A run's session directory: `.osiris/sessions/<session_id>/`.

```
<session_id>/
  events.jsonl     run and step events (docs/events.md)
  metrics.jsonl    per-step metrics, tagged with step_id
  status.json      the outcome: ok, status, per-step results and totals (rewritten as the run goes)
  compiled/        the manifest directory that was executed
  artifacts/       per-step output schemas, the HTML report
  osiris.log       warnings and errors logged by drivers and libraries (masked)
  tmp/             step scratch space and spill files; removed at the end of the run
```

The session id is the only run id (UTC timestamp plus a short random suffix, or `--run-id`).
It is also the directory name, so it is restricted to a safe file-name alphabet.

Sessions hold what a run saw (masked, but still the operator's business): every folder is 0700
and every file 0600 from its creation, the sessions root and older sessions left 0755 by
earlier versions are tightened, and `close` seals what other code wrote inside (the compiled
manifest, artifacts) to the same modes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from osiris.compiler.files import PRIVATE_DIR, PRIVATE_FILE, private_dir, tighten_subdirs, write_atomic
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.secrets import SecretMasker

__all__ = [
    "DEFAULT_SESSION_DIR",
    "Session",
    "SessionError",
    "SessionInfo",
    "find_session",
    "gc_sessions",
    "list_sessions",
    "new_session_id",
    "read_status",
    "validate_session_id",
]

DEFAULT_SESSION_DIR = Path(".osiris") / "sessions"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class SessionError(Exception):
    """A session cannot be created or found (bad id, already exists, not a session)."""


def new_session_id() -> str:
    """`20250131T120000Z-1a2b3c`: sortable by start time, unique enough per machine."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def validate_session_id(session_id: str) -> str:
    if not _ID.match(session_id) or session_id in (".", ".."):
        raise SessionError(
            f"invalid session id {session_id!r}: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return session_id


class Session:
    """Creates the directory and owns the run's event and metric logs."""

    def __init__(self, root: Path, session_id: str | None, masker: SecretMasker) -> None:
        self.id = validate_session_id(session_id) if session_id else new_session_id()
        self.root = Path(root)
        self.dir = self.root / self.id
        try:
            private_dir(self.root)
            tighten_subdirs(self.root)
            self.dir.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            raise SessionError(
                f"session {self.id} already exists in {self.root}: choose another --run-id"
            ) from None
        except OSError as error:
            raise SessionError(f"cannot create the session directory {self.dir}: {error.strerror}") from None
        for sub in ("artifacts", "tmp"):
            (self.dir / sub).mkdir(mode=PRIVATE_DIR)
        self.masker = masker
        self.events = EventLog(self.dir / "events.jsonl", self.id, masker)
        self.metrics = MetricLog(self.dir / "metrics.jsonl", self.id, masker)

    @property
    def compiled_dir(self) -> Path:
        return self.dir / "compiled"

    @property
    def tmp_dir(self) -> Path:
        return self.dir / "tmp"

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    def write_status(self, status: dict[str, Any]) -> dict[str, Any]:
        """Replace status.json atomically (masked), so a reader never sees half a file.

        Returns the masked document, so callers that hand it on need not mask it again.
        """
        data = self.masker.mask_data(status)
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        write_atomic(self.dir / "status.json", text, private=True)
        return data

    def write_artifact(self, name: str, data: Any) -> Path:
        path = self.artifacts_dir / name
        text = self.masker.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
        write_atomic(path, text + "\n", private=True)
        return path

    def remove_tmp(self) -> None:
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def close(self) -> None:
        self.events.close()
        self.metrics.close()
        seal(self.dir)


def seal(directory: Path) -> None:
    """Every folder under `directory` 0700 and every file 0600: what the compiler and drivers
    wrote there with the umask's mode (inside the 0700 session folder, no one else could read it
    meanwhile)."""
    for folder, dirs, files in os.walk(directory):
        for name in dirs:
            _chmod(Path(folder) / name, PRIVATE_DIR)
        for name in files:
            _chmod(Path(folder) / name, PRIVATE_FILE)


def _chmod(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except OSError:
        pass  # gone meanwhile, or not ours


@dataclass(frozen=True)
class SessionInfo:
    id: str
    path: Path
    status: dict[str, Any]

    @property
    def started_at(self) -> str:
        return str(self.status.get("started_at") or "")


def read_status(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "status.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def list_sessions(root: Path) -> list[SessionInfo]:
    """Every session under `root`, newest first (by start time, then id)."""
    found = [SessionInfo(entry.name, entry, read_status(entry)) for entry in _session_dirs(root)]
    found.sort(key=lambda info: (info.started_at, info.id), reverse=True)
    return found


def _is_session(entry: Path) -> bool:
    return _ID.match(entry.name) is not None and entry.is_dir() and (entry / "events.jsonl").exists()


def _session_dirs(root: Path) -> list[Path]:
    try:
        return [entry for entry in root.iterdir() if _is_session(entry)]
    except OSError:  # no such directory (or not one)
        return []


def find_session(root: Path, session_id: str) -> SessionInfo:
    """The session `session_id` (`last` means the newest); SessionError when there is none."""
    if session_id == "last":
        sessions = list_sessions(root)
        if not sessions:
            raise SessionError(f"no sessions in {root}")
        return sessions[0]
    # Only the session asked for has its status.json read, not every one under root.
    exact = root / session_id
    if _ID.match(session_id) and _is_session(exact):
        return SessionInfo(session_id, exact, read_status(exact))
    matches = [entry for entry in _session_dirs(root) if entry.name.startswith(session_id)]
    if len(matches) == 1:
        return SessionInfo(matches[0].name, matches[0], read_status(matches[0]))
    raise SessionError(
        f"no session {session_id!r} in {root}"
        + (f" ({len(matches)} sessions start with it)" if matches else "")
    )


def gc_sessions(
    root: Path,
    *,
    keep: int | None = None,
    older_than_days: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> list[SessionInfo]:
    """Remove sessions beyond the newest `keep` and/or older than `older_than_days`.

    A session still marked `running` whose directory changed in the last hour is kept: it
    may belong to a run in progress.
    """
    now = time.time() if now is None else now
    removed = []
    for index, info in enumerate(list_sessions(root)):
        mtime = _mtime(info.path)
        too_many = keep is not None and index >= keep
        too_old = older_than_days is not None and now - mtime > older_than_days * 86400
        if not (too_many or too_old):
            continue
        if info.status.get("status") == "running" and now - mtime < 3600:
            continue
        removed.append(info)
        if not dry_run:
            shutil.rmtree(info.path, ignore_errors=True)
    return removed


def _mtime(path: Path) -> float:
    try:
        return max(
            p.stat().st_mtime for p in (path, path / "events.jsonl", path / "status.json") if p.exists()
        )
    except (OSError, ValueError):
        return 0.0
