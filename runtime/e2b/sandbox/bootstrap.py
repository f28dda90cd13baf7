"""First code that runs in the sandbox: make the environment match the host, then start the worker.

Standard library only: it runs before this project is importable. It is uploaded as a plain
file and started as `python bootstrap.py ROOT`; `ROOT/job/boot.json` says which build to run.

1. Keep the real stdout for protocol lines and point fd 1 at stderr, so nothing a library
   prints can corrupt the protocol stream.
2. Dependencies: every `name==version` pin in the lock must be installed; missing or
   different ones are installed with pip (skipped entirely in a custom template that has
   them, see docs/e2b.md). Heartbeats flow meanwhile so the host knows we are alive.
3. The project: the wheel is unpacked into `<site dir>/<build id>/` unless a template already
   holds that build; a pure-Python wheel unpacked on sys.path is an installed distribution
   (its entry points included). Unpacking takes ~50 ms; `pip install` would take seconds.
4. Hand over to `runtime.e2b.sandbox.worker.main` in this same process.

Also usable at template build time: `python bootstrap.py --install-only WHEEL LOCK SITE_DIR`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

# The single definition of what the host and the sandbox must agree on outside the wire
# protocol (which is runtime.e2b.protocol). This module is standard library only, so the host
# imports these from here (conns, jobfiles, wheel) instead of repeating them.
MARKER = ".osiris-complete"
"""Written last into an unpacked build directory: the build there is complete."""
BUILD_ID_CHARS = 16


def build_id(sha256_hex: str) -> str:
    """A build's short id (directory name in the sandbox and template cache): its wheel's sha256 prefix."""
    return sha256_hex[:BUILD_ID_CHARS]


def normalise(name: str) -> str:
    """A distribution name in PEP 503 normal form (`Foo_Bar.baz` -> `foo-bar-baz`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class BootError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class _Out:
    """Protocol lines to the saved stdout descriptor, one locked write per line."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, message: dict) -> None:
        self.send_line(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")

    def send_line(self, line: str) -> None:
        data = line.encode("utf-8")
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


def _take_stdout() -> int:
    """Duplicate fd 1 for the protocol and point fd 1 (and sys.stdout) at stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return fd


def _pins(lock: Path) -> list[tuple[str, str]]:
    pins = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins.append((match.group(1), match.group(2)))
    return pins


def _installed() -> dict[str, str]:
    """Normalised name -> version of the installed distributions, from `<name>-<version>.dist-info`
    directory names (reading ~150 METADATA files would cost ~0.2 s)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and "-" in name:
                dist, version = name[: -len(".dist-info")].rsplit("-", 1)
                found.setdefault(normalise(dist), version)
    return found


def _missing(pins: list[tuple[str, str]]) -> list[str]:
    installed = _installed()
    missing = []
    for name, version in pins:
        if installed.get(normalise(name)) == version:
            continue
        try:  # not a plain dist-info directory (e.g. an egg-info): ask importlib
            if metadata.version(name) == version:
                continue
        except metadata.PackageNotFoundError:
            pass
        missing.append(f"{name}=={version}")
    return missing


def install_dependencies(lock: Path) -> list[str]:
    """pip-install the pins that are missing; returns what was installed."""
    missing = _missing(_pins(lock))
    if not missing:
        return []
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "-q",
        *missing,
    ]
    done = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-6:])
        raise BootError("install", f"pip could not install {len(missing)} pinned dependencies: {tail}")
    still = _missing(_pins(lock))
    if still:
        raise BootError("install", f"dependencies still differ from the host after pip: {', '.join(still)}")
    return missing


def unpack(wheel: Path, site: Path) -> Path:
    """Unpack `wheel` into `site` atomically (temp dir + rename); returns `site`."""
    if (site / MARKER).is_file():
        return site
    site.parent.mkdir(parents=True, exist_ok=True)
    temp = site.with_name(f".{site.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(temp)
    (temp / MARKER).write_text(wheel.name + "\n", encoding="utf-8")
    try:
        os.rename(temp, site)
    except OSError:  # a concurrent bootstrap finished first
        shutil.rmtree(temp, ignore_errors=True)
        if not (site / MARKER).is_file():
            raise
    return site


def _find_site(boot: dict, root: Path) -> Path:
    """The build's unpacked directory: found in a site dir, else unpacked into the first writable one."""
    build = boot["build_id"]
    directories = [Path(d) for d in boot.get("site_dirs", [])] or [root / "site"]
    for directory in directories:
        if (directory / build / MARKER).is_file():
            return directory / build
    if not boot.get("wheel"):
        raise BootError("install", f"build {build} is not installed in the sandbox and no wheel was uploaded")
    for directory in directories:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return unpack(root / boot["wheel"], directory / build)
    raise BootError("install", f"no writable directory to install build {build} into")


def _heartbeats(out: _Out, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        out.send({"type": "heartbeat", "phase": "install"})


def main(argv: list[str]) -> int:
    if argv[:1] == ["--install-only"]:
        wheel, lock, site_dir = (Path(a) for a in argv[1:4])
        install_dependencies(lock)
        import hashlib

        build = build_id(hashlib.sha256(wheel.read_bytes()).hexdigest())
        site = unpack(wheel, site_dir / build)
        sys.path.insert(0, str(site))
        os.environ.setdefault("XDG_CACHE_HOME", str(site / ".cache"))
        from osiris.compiler.manifest import warm_verifier  # cache what verifying a job's manifest reads

        warm_verifier()
        print(site)
        return 0
    root = Path(argv[0]).resolve()
    out = _Out(_take_stdout())
    stop = threading.Event()
    try:
        boot = json.loads((root / "job" / "boot.json").read_text(encoding="utf-8"))
        beat = threading.Thread(target=_heartbeats, args=(out, float(boot.get("heartbeat_s", 2.0)), stop), daemon=True)
        beat.start()
        started = time.monotonic()
        installed = install_dependencies(root / boot["lock"])
        site = _find_site(boot, root)
        install_ms = int((time.monotonic() - started) * 1000)
    except BootError as error:
        out.send({"type": "error", "stage": error.stage, "message": str(error)})
        return 3
    except Exception as error:  # noqa: BLE001 - reported over the protocol, then exit
        out.send({"type": "error", "stage": "install", "message": f"{type(error).__name__}: {error}"})
        return 3
    finally:
        stop.set()
    sys.path.insert(0, str(site))
    # Caches keyed by content (the parsed component specs) live with the build, so they survive
    # from run to run in a template or the local cache instead of starting cold in every sandbox.
    os.environ.setdefault("XDG_CACHE_HOME", str(site / ".cache"))
    try:
        from osiris.runtime.e2b.sandbox import worker
    except Exception as error:  # noqa: BLE001
        out.send(
            {
                "type": "error",
                "stage": "install",
                "message": f"cannot import the worker from {site.name}: {type(error).__name__}: {error}",
            }
        )
        return 3
    return worker.main(root, out, boot, {"install_ms": install_ms, "installed": len(installed), "site": str(site)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
