"""Where a config `path` points, and a helpful error when nothing is there.

Relative paths resolve against the connection's `base_dir` when the step has a filesystem
connection, else against the run's working directory (`ctx.resolve_path`). Messages quote
the path as the user wrote it, never the absolute path, so events stay machine-independent.
"""

from __future__ import annotations

import difflib
from pathlib import Path, PurePosixPath

from runtime.driver import DriverError, ResolvedConnection, StepContext

__all__ = ["base_description", "display_path", "missing_file_error", "resolve_config_path"]


def resolve_config_path(ctx: StepContext, path: str) -> Path:
    """The absolute location of a config path (base_dir first, then the working directory)."""
    return resolve_with_connection(ctx.connection, path, ctx.resolve_path)


def resolve_with_connection(connection: ResolvedConnection | None, path: str, resolve) -> Path:  # noqa: ANN001
    """Resolve `path` against the connection's base_dir, falling back to `resolve`."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    base_dir = _base_dir(connection)
    if base_dir is not None:
        base = Path(base_dir).expanduser()
        base = base if base.is_absolute() else resolve(str(base))
        return base / candidate
    return resolve(str(candidate))


def display_path(path: str) -> str:
    """The path as the user wrote it, with `./` dropped (for messages, events and results)."""
    text = str(PurePosixPath(path)) if "\\" not in path else path
    return text or path


def base_description(connection: ResolvedConnection | None) -> str:
    """Say what relative paths resolve against, without printing an absolute path."""
    if _base_dir(connection) is not None and connection is not None:
        return f"the base_dir of {connection.ref}"
    return "the directory the run started in"


def missing_file_error(ctx_connection: ResolvedConnection | None, path: str, resolved: Path) -> DriverError:
    """`file not found: <path>` with a did-you-mean over the files next to where it was looked for."""
    shown = display_path(path)
    parent = resolved.parent
    if not parent.is_dir():
        hint = f"the directory {str(PurePosixPath(shown).parent)!r} does not exist"
    else:
        siblings = sorted(entry.name for entry in parent.iterdir() if not entry.name.startswith("."))
        close = difflib.get_close_matches(resolved.name, siblings, n=3, cutoff=0.6)
        if close:
            prefix = str(PurePosixPath(shown).parent)
            shown_close = [name if prefix == "." else f"{prefix}/{name}" for name in close]
            hint = "did you mean " + " or ".join(repr(name) for name in shown_close) + "?"
        else:
            hint = "check the path and the file name"
    relative = not Path(path).expanduser().is_absolute()
    where = f"; relative paths resolve against {base_description(ctx_connection)}" if relative else ""
    return DriverError(f"file not found: {shown}", hint=hint + where)


def _base_dir(connection: ResolvedConnection | None) -> str | None:
    if connection is None or connection.family != "filesystem":
        return None
    base_dir = connection.get("base_dir")
    return str(base_dir) if base_dir else None
