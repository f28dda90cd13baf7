"""This project as a wheel for the sandbox, plus the exact dependency pins it runs with.

The sandbox must run the code the host runs, so the wheel is built from the current source
tree with `pip wheel --no-deps` and cached under the sha256 of the files that go into it
(building takes ~2 s; a cache hit takes ~20 ms). The dependency lock pins every runtime
dependency, transitively, to the version installed on the host, so the sandbox resolves to
the same pyarrow, DuckDB and driver libraries the parity tests compare against.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from osiris.compiler.files import cache_root, file_sha256, private_dir, write_atomic
from osiris.runtime.e2b.sandbox.bootstrap import build_id, normalise

__all__ = [
    "DIST_NAME",
    "Build",
    "WheelError",
    "cache_root",
    "ensure_wheel",
    "pinned_requirements",
    "source_root",
]

DIST_NAME = "osiris-oml"
SANDBOX_EXTRAS = frozenset({"run", "mysql", "postgres", "supabase"})
"""The extras the sandbox installs: the runtime and every driver (not chat, not the E2B SDK)."""
_SUFFIXES = (".py", ".lark", ".yaml", ".json", ".md", ".txt")
_C_SUFFIXES = (".c", ".h")


def _native_decoders() -> bool:
    """Whether the wheel carries the compiled decoders (setup.py: PostgreSQL COPY, MySQL rows).

    The sandbox runs Linux x86_64 with the host's Python (template.py), so a host that is the
    same builds them in, and the sandbox reads through the same paths as the host. Elsewhere
    (macOS, ARM) the wheel stays pure Python, and the sandbox's drivers take their pure paths.
    """
    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


class WheelError(Exception):
    """The project wheel cannot be built or found."""


@dataclass(frozen=True)
class Build:
    """A wheel ready to upload: its path and identity (sha256 of the wheel file)."""

    path: Path
    sha256: str
    cached: bool

    @property
    def build_id(self) -> str:
        """Short id used for directory names in the sandbox and its template cache."""
        return build_id(self.sha256)

    @property
    def filename(self) -> str:
        return self.path.name


def source_root() -> Path | None:
    """The source tree this package runs from (editable install or checkout), if there is one."""
    root = Path(__file__).resolve().parents[3]  # runtime/e2b/host/wheel.py
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, ValueError):
        return None
    return root if name == DIST_NAME else None


def ensure_wheel(prebuilt: Path | None = None, cache: Path | None = None) -> Build:
    """The wheel to upload: `prebuilt` if given, else a cached build of the source tree."""
    if prebuilt is not None:
        path = Path(prebuilt)
        if not path.is_file() or path.suffix != ".whl":
            raise WheelError(f"{prebuilt} is not a wheel file")
        return Build(path, file_sha256(path), cached=True)
    root = source_root()
    if root is None:
        raise WheelError(
            "cannot find the osiris source tree to build a wheel from",
        ) from None
    files = _package_files(root)
    cache = cache or cache_root()
    private_dir(cache / "e2b")  # 0700 like every Osiris cache: what is in it is uploaded and run
    key = _content_key(root, files, cache)
    slot = cache / "e2b" / "wheels" / key[:24]
    found = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if found:
        return Build(found[0], file_sha256(found[0]), cached=True)
    wheel = _build(root, files, slot)
    return Build(wheel, file_sha256(wheel), cached=False)


def _package_files(root: Path) -> list[Path]:
    """The files the wheel is built from: package sources and data (see pyproject.toml), and the
    decoders' C sources with setup.py where the wheel carries them (`_native_decoders`)."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    folders = config.get("tool", {}).get("setuptools", {}).get("package-dir", {}).values()
    files = [root / "pyproject.toml"]
    native = _native_decoders() and (root / "setup.py").is_file()
    suffixes = _SUFFIXES + (_C_SUFFIXES if native else ())
    if native:
        files.append(root / "setup.py")
    readme = config.get("project", {}).get("readme")
    if isinstance(readme, str) and (root / readme).is_file():
        files.append(root / readme)
    for top in sorted(root / folder for folder in folders):
        for path in sorted(top.rglob("*")):
            parts = path.relative_to(root).parts
            if any(part == "__pycache__" or part.startswith(".") for part in parts):
                continue
            if path.is_file() and path.suffix in suffixes:
                files.append(path)
    return files


def _content_key(root: Path, files: list[Path], cache: Path) -> str:
    """sha256 over the packaged files' names and contents: the wheel cache's key.

    Hashing ~400 files costs ~50 ms, so the result is memoised under a key of their names,
    sizes and modification times (one stat each): a run on an unchanged tree reads no file,
    and a touched-but-unchanged file costs one re-hash, not a rebuild.
    """
    quick = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    for path in files:
        info = path.stat()
        quick.update(f"{path.relative_to(root).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    memo = cache / "e2b" / "wheels" / "stat" / quick.hexdigest()[:24]
    try:
        return memo.read_text(encoding="ascii").strip()
    except OSError:
        pass
    digest = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    key = digest.hexdigest()
    try:
        write_atomic(memo, key + "\n")
    except OSError:
        pass
    return key


def _build(root: Path, files: list[Path], slot: Path) -> Path:
    slot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="osiris-wheel-") as scratch:
        src, out = Path(scratch) / "src", Path(scratch) / "dist"
        for path in files:
            target = src / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(src),
        ]
        if _can_build_in_place(root):  # else pip fetches the build backend into an isolated env
            command.insert(5, "--no-build-isolation")
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = sorted(out.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise WheelError(f"building the project wheel failed (pip exit {done.returncode}):\n{tail}")
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=slot.parent))
        shutil.move(str(wheels[0]), staging / wheels[0].name)
        try:
            staging.rename(slot)
        except OSError:  # another build won the race; use its wheel
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(slot.glob("*.whl"))[0]


def _can_build_in_place(root: Path) -> bool:
    """True when every `build-system.requires` is installed here, so pip need not download them."""
    from packaging.requirements import Requirement

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    for text in config.get("build-system", {}).get("requires", []):
        requirement = Requirement(text)
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return False
        if not requirement.specifier.contains(version, prereleases=True):
            return False
    return True


def cached_pins(cache: Path | None = None) -> list[str]:
    """`pinned_requirements()`, cached under a key of the installed distributions' directory names.

    Reading ~150 METADATA files costs ~0.2 s per run; listing site-packages costs ~2 ms, and
    any install, upgrade or removal changes a `<name>-<version>.dist-info` name there.
    """
    digest = hashlib.sha256()
    for entry in sys.path:
        try:
            names = sorted(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        digest.update(f"{entry}\0{'|'.join(names)}\n".encode())
    path = private_dir((cache or cache_root()) / "e2b") / "pins" / f"{digest.hexdigest()[:24]}.txt"
    try:
        return path.read_text(encoding="utf-8").split()
    except OSError:
        pins = pinned_requirements()
    try:
        write_atomic(path, "\n".join(pins) + "\n")
    except OSError:
        pass
    return pins


def pinned_requirements(dist: str = DIST_NAME, extras: frozenset[str] = SANDBOX_EXTRAS) -> list[str]:
    """`name==version` for every dependency of `dist` with `extras`, transitively, as installed here
    (`dist` itself, which an extra may name, is the wheel and is not pinned)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip's environments
        raise WheelError("the `packaging` library is needed to pin dependencies") from None
    installed: dict[str, metadata.Distribution] = {}
    for found in metadata.distributions():  # one scan of sys.path, not one per dependency
        name = found.metadata["Name"]
        if name:
            installed.setdefault(normalise(name), found)
    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(normalise(dist), frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen or name not in installed:
            continue
        seen.add((name, extras))
        for text in installed[name].requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in (*extras, "")):
                continue
            key = normalise(requirement.name)
            if key not in installed:
                raise WheelError(
                    f"{requirement.name}, a dependency of {name}, is not installed on the host; "
                    "install the project's dependencies first"
                )
            if key != normalise(dist):
                pins[key] = installed[key].version
            todo.append((key, frozenset(requirement.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]
