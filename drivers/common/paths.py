"""Where a config `path` points, confined to the project, and a helpful error when nothing is there.

Relative paths resolve against the connection's `base_dir` when the step has a filesystem
connection, else against the run's working directory. Every path goes through the path
policy (compiler/path_policy.py) after symbolic links are resolved: it must stay inside the
working directory, the connection's `base_dir` or a root the operator allowed
(`ctx.path_roots`), and a NUL byte or an over-long path is refused before the OS sees it. A
refusal is a DriverError naming the path and the code (OML083-OML085), never an
"unexpected error". Messages quote the path as the user wrote it, never the absolute path, so
events stay machine-independent.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path, PurePosixPath

from osiris.compiler.path_policy import PathRefused, confine_path, confine_real, path_roots, text_problem
from osiris.runtime.driver import DriverError, ResolvedConnection, StepContext

__all__ = [
    "base_description",
    "confine_found",
    "config_roots",
    "confine_config_path",
    "display_path",
    "missing_file_error",
    "resolve_config_path",
    "resolve_with_connection",
]


def resolve_config_path(ctx: StepContext, path: str) -> Path:
    """The real location of a config path (base_dir first, then the working directory), or a
    DriverError when the path policy refuses it."""
    return confine_config_path(ctx.connection, path, ctx.work_dir, getattr(ctx, "path_roots", ()),
                               getattr(ctx, "protected_files", ()))


def config_roots(connection: ResolvedConnection | None, work_dir: str | os.PathLike[str],
                 extra: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str | None]:
    """(roots, base) for a step: the working directory, the connection's base_dir (which relative
    paths resolve against, when there is one) and the operator's extra roots."""
    base_dir = _base_dir(connection)
    roots = path_roots(work_dir, extra, base_dir)
    return roots, (path_roots(work_dir, base_dir=base_dir)[-1] if base_dir else None)


def confine_config_path(connection: ResolvedConnection | None, path: str, work_dir: str | os.PathLike[str],
                        extra: tuple[str, ...] = (), protected: tuple[str, ...] = ()) -> Path:
    """`resolve_config_path` without a step context (discovery)."""
    roots, base = config_roots(connection, work_dir, extra)
    try:
        return confine_path(path, roots, base, protected=protected)
    except PathRefused as error:
        raise _refused(error) from None


def confine_found(found: str | os.PathLike[str], shown: str, roots: tuple[str, ...],
                  protected: tuple[str, ...] = ()) -> Path:
    """A file met while reading a directory (datasets, discovery): its real location, or a
    DriverError when a symbolic link inside the directory leads out of the roots (or to a
    hidden or protected file)."""
    try:
        return confine_real(found, shown, roots, protected)
    except PathRefused as error:
        raise _refused(error) from None


def resolve_with_connection(connection: ResolvedConnection | None, path: str, resolve) -> Path:  # noqa: ANN001
    """Resolve `path` against the connection's base_dir, falling back to `resolve`, without the
    path policy's roots (discovery: its caller confines the path it names); a NUL byte or an
    over-long path is still a DriverError, not an OS error."""
    problem = text_problem(path)
    if problem is not None:
        raise _refused(PathRefused(problem))
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    base_dir = _base_dir(connection)
    if base_dir is not None:
        base = Path(base_dir).expanduser()
        base = base if base.is_absolute() else resolve(str(base))
        return base / candidate
    return resolve(str(candidate))


def _refused(error: PathRefused) -> DriverError:
    return DriverError(f"{error} [{error.code}]", hint=error.hint)


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
