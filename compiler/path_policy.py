"""One rule for every file path a pipeline names: it stays inside the roots the operator granted.

OML text, model output and manifests are untrusted; the operator and osiris_connections.yaml
are trusted (docs/security.md). So a path in a step's config (a field its component spec marks
`x-path: read|write`) must resolve inside one of:

- the project root: the directory `omlc` / `osiris run` / `osiris chat` runs in;
- the `base_dir` of the step's `@filesystem` connection (written by the operator);
- a directory listed under `filesystem: roots:` in osiris_connections.yaml.

Inside the roots, hidden names and the connections file stay off-limits (OML085): a name that
starts with a dot (`.git`, `.env`, `.venv`, `.osiris`, `.ssh`) holds credentials, code that runs
later or Osiris's own sessions, and `osiris_connections.yaml` holds the secrets; a pipeline may
neither read nor write them. Only the part of a path below its root counts, so a root the
operator placed under a hidden folder still works.

Object-store URIs (`s3://`, `gs://`, `az://`) are not local paths: `store_problem` accepts one
only when the step's connection is of the store's family (`@s3.<alias>` for s3://; OML086
otherwise), because the keys, region and endpoint come from that alias; any other URL stays
refused (OML084). The file drivers hand an accepted URI to drivers/common/objectstore.py.

The compiler checks the text (`check_path`: OML083 when it leaves the roots, OML084 for NUL
bytes, over-long paths and URLs), manifest verification checks compiled cfg files the same way, and
the file drivers check again when the step runs (`confine_path`), after resolving symbolic
links, so a link inside the project that points outside is refused too. `osiris chat` applies
the same functions to the paths a model writes. One module, so these cannot disagree.

Messages quote the path as written (escaped and shortened), never an absolute root, so
diagnostics and events stay machine-independent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osiris.compiler.connections import ConnectionsFile

__all__ = [
    "writes_dataset",
    "MAX_NAME_BYTES",
    "CONNECTIONS_NAMES",
    "MAX_PATH_BYTES",
    "PathProblem",
    "PathRefused",
    "STORE_SCHEMES",
    "check_path",
    "confine_path",
    "confine_real",
    "path_roots",
    "protected_files",
    "shown_path",
    "step_path_problem",
    "step_roots",
    "store_problem",
    "store_scheme",
    "text_problem",
]

MAX_PATH_BYTES = 4095
"""Longest path accepted, in UTF-8 bytes (Linux PATH_MAX is 4096 including the NUL)."""
MAX_NAME_BYTES = 255
"""Longest single path component, in UTF-8 bytes (NAME_MAX on every common file system)."""

CONNECTIONS_NAMES = frozenset({"osiris_connections.yaml", "osiris_connections.yml"})
"""File names that are a connections file wherever they are (compared without case)."""

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
"""A URL's scheme: `s3://`, `gs://`, `az://`, `https://`, `file://` ..."""

OUTSIDE = "OML083"
UNUSABLE = "OML084"
PROTECTED = "OML085"
STORE_CONNECTION = "OML086"

STORE_SCHEMES = {"s3": "s3", "gs": "gcs", "az": "azure"}
"""Object-store URI scheme -> the connection family whose alias holds its credentials."""

ROOTS_HINT = (
    "use a path inside the project (relative to the directory omlc and osiris run start in), "
    "or have the operator allow the directory under `filesystem: roots:` in osiris_connections.yaml"
)


@dataclass(frozen=True, slots=True)
class PathProblem:
    """Why a path is refused: its diagnostic code, a one-line message and a hint."""

    code: str
    message: str
    hint: str


class PathRefused(ValueError):
    """A path broke the policy at run time (the drivers turn it into a DriverError)."""

    def __init__(self, problem: PathProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def hint(self) -> str:
        return self.problem.hint


def shown_path(path: str, limit: int = 80) -> str:
    """The path for a message: control characters escaped, long ones cut in the middle."""
    text = path.encode("unicode_escape", "backslashreplace").decode("ascii") if not path.isprintable() else path
    if len(text) > limit:
        text = f"{text[: limit // 2]}...{text[-(limit // 2) + 3:]}"
    return text


def store_scheme(path: str) -> str | None:
    """`s3`, `gs` or `az` when `path` is an object-store URI, else None."""
    if not _URL.match(path):
        return None
    scheme = path.split(":", 1)[0].lower()
    return scheme if scheme in STORE_SCHEMES else None


def writes_dataset(config: Mapping[str, Any], path: str) -> bool:
    """Whether a Parquet writer writes a directory (prefix) of part files rather than one file:
    a path ending in `/`, `partition_by`, or a rotation limit."""
    return path.endswith("/") or bool(config.get("partition_by")) or bool(
        config.get("max_rows_per_file") or config.get("max_bytes_per_file"))


def store_problem(path: str, connection: str | None) -> PathProblem | None:
    """For an object-store URI: OML084 when it is malformed (no bucket, user info, a query or
    fragment, a NUL byte), OML086 when `connection` (`@family.alias`) is not of its store's
    family; None when it may be used. Keys come only from that alias, never from the URI."""
    scheme = store_scheme(path)
    assert scheme is not None
    family = STORE_SCHEMES[scheme]
    rest = path.split("://", 1)[1]
    bucket = rest.split("/", 1)[0]
    shown = shown_path(path)
    if "\x00" in path or any(ch in path for ch in "?#") or "@" in bucket or not bucket or "\\" in path:
        return PathProblem(UNUSABLE, f"path '{shown}' is not a plain {scheme}://bucket/key URI",
                           "write the URI without user info, query (`?...`) or fragment; keys and tokens go "
                           f"in an `{family}` alias of osiris_connections.yaml")
    key_parts = rest.split("/")[1:]
    if any(part in (".", "..") for part in key_parts) or "" in key_parts[:-1]:
        return PathProblem(UNUSABLE, f"path '{shown}' has an empty, `.` or `..` segment in its key",
                           "write the key as the store names it (stores do not resolve `..`; tools that "
                           "do would read another key than the one written)")
    ref_family = connection[1:].split(".", 1)[0] if connection and connection.startswith("@") else None
    if ref_family != family:
        what = f"its connection is {connection}" if connection else "the step has no connection"
        return PathProblem(STORE_CONNECTION, f"path '{shown}' is an object-store URI and {what}",
                           f"add `connection: \"@{family}.<alias>\"`; the alias in osiris_connections.yaml "
                           "holds the region, endpoint and keys")
    return None


def text_problem(path: str) -> PathProblem | None:
    """OML084 for a path no file system can hold: a NUL byte, over-long path or component, or a
    URL (`https://x` would otherwise become a local folder named `https:`). Object-store URIs
    are judged by `store_problem` instead; here they are refused like any URL."""
    if _URL.match(path):
        scheme = path.split(":", 1)[0].lower()
        hint = (f"name the step's `@{STORE_SCHEMES[scheme]}.<alias>` connection" if scheme in STORE_SCHEMES
                else "only s3://, gs:// and az:// URIs are read and written (with their connection); copy "
                     "other data to a local path inside the project and name that path")
        return PathProblem(UNUSABLE, f"path '{shown_path(path)}' is a URL ({scheme}://), not a file path", hint)
    if "\x00" in path:
        return PathProblem(UNUSABLE, f"path '{shown_path(path)}' holds a NUL byte",
                           "remove the \\0 character: no file name can contain it")
    encoded = path.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_PATH_BYTES:
        return PathProblem(UNUSABLE, f"path '{shown_path(path)}' is {len(encoded)} bytes long "
                           f"(at most {MAX_PATH_BYTES})", "use a shorter path")
    if len(encoded) > MAX_NAME_BYTES:
        longest = max(len(part) for part in encoded.split(b"/"))
        if longest > MAX_NAME_BYTES:
            return PathProblem(UNUSABLE, f"path '{shown_path(path)}' has a {longest}-byte file or directory "
                               f"name (at most {MAX_NAME_BYTES})", "use shorter names")
    return None


def step_path_problem(path: str, connection: str | None, roots: Sequence[str], base: str | None = None,
                      protected: Iterable[str] = ()) -> PathProblem | None:
    """A step config's path: an object-store URI against the step's `connection` reference
    (`store_problem`), anything else by `check_path`."""
    if store_scheme(path) is not None:
        return store_problem(path, connection)
    return check_path(path, roots, base, protected)


def path_roots(project_root: str | os.PathLike[str], extra: Iterable[str] = (),
               base_dir: str | None = None) -> tuple[str, ...]:
    """The absolute, normalised roots a step may use: the project root first, then the step's
    connection `base_dir` and the operator's extra roots (relative ones against the project root)."""
    root = _normal(os.path.abspath(os.fspath(project_root)))
    roots = [root]
    for other in (base_dir, *extra):
        if other:
            roots.append(_normal(os.path.join(root, os.path.expanduser(other))))
    return tuple(dict.fromkeys(roots))


UNKNOWN_BASE = os.sep + "\x00unresolved-base_dir"
"""Stands for a base_dir whose ${VAR} is unset: no real path is inside it, so relative paths
are judged only by whether they climb out of it."""


def step_roots(project_root: str | os.PathLike[str], connections: ConnectionsFile | None, ref: str | None,
               env: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], str | None]:
    """(roots, base) for a step whose connection is `ref`: `base` is the absolute base_dir of
    a `@filesystem` alias (relative paths resolve against it), else None (the project root)."""
    extra = connections.roots if connections is not None else ()
    base_dir = None
    if ref and connections is not None and ref.startswith("@filesystem."):
        alias = ref.removeprefix("@filesystem.")
        decl = connections.lookup("filesystem", alias)
        if decl is not None and decl.fields.get("base_dir"):
            env = os.environ if env is None else env
            if any(r.default is None and r.name not in env for r in decl.env_refs.get("base_dir", ())):
                base_dir = UNKNOWN_BASE  # resolved only when the run starts (OML076 warned)
            else:
                value = connections.values("filesystem", alias, env)[0].get("base_dir")
                base_dir = value if isinstance(value, str) and value else None
    roots = path_roots(project_root, extra, base_dir)
    base = None if base_dir is None else path_roots(project_root, base_dir=base_dir)[-1]
    return roots, base


def protected_files(project_root: str | os.PathLike[str], connections: ConnectionsFile | None) -> tuple[str, ...]:
    """The absolute path of the connections file in use (whatever its name), for `check_path`."""
    if connections is None or not connections.path:
        return ()
    return (_normal(os.path.join(os.path.abspath(os.fspath(project_root)), connections.path)),)


def _normal(path: str) -> str:
    """normpath, and `//x` as `/x` (POSIX lets normpath keep two leading slashes; Linux reads one)."""
    path = os.path.normpath(path)
    return "/" + path.lstrip("/") if path.startswith("//") else path


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def _outside(path: str, through_link: bool) -> PathProblem:
    how = "resolves outside the project (through a symbolic link)" if through_link else (
        "leaves the project" if not os.path.isabs(os.path.expanduser(path)) else "is outside the project")
    return PathProblem(OUTSIDE, f"path '{shown_path(path)}' {how}", ROOTS_HINT)


def _protected(path: str, where: str, roots: Sequence[str], protected: Iterable[str] = ()) -> PathProblem | None:
    """OML085 when `where` (inside one of `roots`) goes through a hidden name below its root,
    or is a connections file (by name, or one of the absolute paths in `protected`)."""
    root = max((root for root in roots if _inside(where, root)), key=len, default="")
    names = [name for name in where[len(root):].split(os.sep) if name]
    hidden = next((name for name in names if name.startswith(".")), None)
    if hidden is not None:
        return PathProblem(PROTECTED, f"path '{shown_path(path)}' goes through the hidden name '{shown_path(hidden)}'",
                           "hidden files and folders (.git, .env, .venv, .osiris, ...) hold credentials, code "
                           "and Osiris's own state, so no step reads or writes them: use a name without the "
                           "leading dot")
    if (names and names[-1].lower() in CONNECTIONS_NAMES) or any(where == _normal(p) for p in protected):
        return PathProblem(PROTECTED, f"path '{shown_path(path)}' is the connections file",
                           "the connections file holds the secrets and is read only by Osiris itself; "
                           "point the step at a data file")
    return None


def check_path(path: str, roots: Sequence[str], base: str | None = None,
               protected: Iterable[str] = (), *, hidden: bool = False) -> PathProblem | None:
    """Compile-time check, without touching the file system: `path` resolved against `base`
    (default: the project root, `roots[0]`) must stay inside one of `roots` (from `path_roots`),
    clear of hidden names and connections files (`protected`: absolute paths of the one in use).
    `hidden=True` lets an operator's own flag name a hidden folder (`--session-dir .osiris/chat`).
    A step's object-store URI is judged by `step_path_problem` instead."""
    problem = text_problem(path)
    if problem is not None:
        return problem
    where = _normal(os.path.join(base or roots[0], os.path.expanduser(path)))
    if not any(_inside(where, root) for root in roots):
        return _outside(path, through_link=False)
    return (None if hidden else _protected(path, where, roots, protected)) or _too_long_resolved(path, where)


def _too_long_resolved(path: str, where: str) -> PathProblem | None:
    """Short as written, too long once joined to its root: the OS would say ENAMETOOLONG."""
    size = len(where.encode("utf-8", "surrogatepass"))
    if size <= MAX_PATH_BYTES:
        return None
    return PathProblem(UNUSABLE, f"path '{shown_path(path)}' is {size} bytes long once resolved "
                       f"(at most {MAX_PATH_BYTES})", "use a shorter path")


def confine_path(path: str, roots: Sequence[str], base: str | None = None, *, hidden: bool = False,
                 protected: Iterable[str] = ()) -> Path:
    """Run-time check: the real location of `path` (symbolic links resolved), or PathRefused.

    `path` resolves against `base` (default `roots[0]`); both it and the roots are resolved
    with realpath, so a root that is itself a link still works, while a link inside a root
    that points elsewhere does not. The real path is returned, so the caller opens exactly
    what was checked. `hidden` and `protected` as in `check_path`.
    """
    problem = text_problem(path)
    if problem is not None:
        raise PathRefused(problem)
    lexical = _normal(os.path.join(base or roots[0], os.path.expanduser(path)))
    real = os.path.realpath(lexical)
    for where in (lexical, real):
        problem = _too_long_resolved(path, where)
        if problem is not None:
            raise PathRefused(problem)
    real_roots = [os.path.realpath(root) for root in roots]
    if any(_inside(real, root) for root in real_roots):
        protected = [os.path.realpath(file) for file in protected]
        problem = _protected(path, lexical, roots, protected) if any(_inside(lexical, root) for root in roots) else None
        problem = problem or _protected(path, real, real_roots, protected)
        if problem is not None and not hidden:
            raise PathRefused(problem)
        return Path(real)
    raise PathRefused(_outside(path, through_link=any(_inside(lexical, root) for root in roots)))


def confine_real(found: str | os.PathLike[str], shown: str, roots: Sequence[str],
                 protected: Iterable[str] = ()) -> Path:
    """For a file found by walking a directory (datasets, discovery): its real location, or
    PathRefused naming it as `shown` when a link inside the directory leads out of the roots."""
    real = os.path.realpath(os.fspath(found))
    real_roots = [os.path.realpath(root) for root in roots]
    if any(_inside(real, root) for root in real_roots):
        problem = _protected(shown, real, real_roots, [os.path.realpath(file) for file in protected])
        if problem is not None:
            raise PathRefused(problem)
        return Path(real)
    raise PathRefused(_outside(shown, through_link=True))
