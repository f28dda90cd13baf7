"""Test drivers that run *inside* the sandbox worker and act like hostile step code.

The worker is another process running the uploaded build, so the registry overrides of
`runtime.registry` are installed there by a start-up shim: `worker_python(tmp, plan)` writes
an executable that the local transport uses as its interpreter; it runs this file, which
registers `OVERRIDES` in the worker and then hands over to the uploaded `bootstrap.py`.
The plan (a JSON file) says what the doubles do:

- `snoop`: the `duckdb.processor` step outputs what step code can read about its own
  process and its ancestors (`/proc/<pid>/environ`, `/proc/<pid>/cmdline`, `os.environ`)
  and every file of the sandbox directory except the installed build, one row per source.
- `write`: files the step creates in the sandbox (relative to the worker's working directory,
  `..` allowed) with their text.
- `symlinks`: symbolic links the step creates (relative path -> target).
- `forge`: protocol messages the step writes straight into the worker's protocol stream,
  as step code that found the stream would (e.g. `artifact` messages for files nobody
  declared; an artifact without `size`/`sha256` gets those of the file it names, read
  through links). `forge_raw`: lines written as they are (any text), `forge_repeat` times.
- `symlink_output`: the csv writer makes its declared output a symbolic link to this path.

Database writers (`postgres.writer`, `mysql.writer`) are replaced by `Drain`, so a pipeline
can name connections with secrets (their resolved fields reach the worker) without a server.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.abc
import importlib.util
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any


def _plan() -> dict[str, Any]:
    return json.loads(Path(os.environ.get("OSIRIS_TEST_SANDBOX_PLAN", "/nonexistent")).read_text())


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20).replace(b"\0", b"\n").decode("utf-8", "replace")
    except OSError as error:
        return f"<{type(error).__name__}>"


def _ancestors() -> list[int]:
    """The worker and its parent: the host process for the local transport, whatever started
    the command in a real sandbox (further up is the machine running the tests)."""
    status = _read("/proc/self/status")
    ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "0")
    return [os.getpid()] + ([int(ppid)] if int(ppid) > 1 else [])


def snoop_rows(root: Path) -> list[tuple[str, str]]:
    """Everything step code in the worker can read about itself: (source, content) pairs."""
    rows = [("os.environ", "\n".join(f"{k}={v}" for k, v in os.environ.items()))]
    for pid in _ancestors():
        for name in ("environ", "cmdline"):
            rows.append((f"/proc/{pid}/{name}", _read(f"/proc/{pid}/{name}")))
    for fd in sorted(os.listdir("/proc/self/fd")):
        try:
            rows.append((f"/proc/self/fd/{fd}", os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[:1] in (("site",), ("dist",)) or not path.is_file():
            continue
        rows.append((f"sandbox:{relative}", _read(str(path))))
    return rows


def _protocol_out() -> Any:
    """The bootstrap's protocol writer, found the way step code could find it (the object heap)."""
    found = [o for o in gc.get_objects() if type(o).__name__ == "_Out" and hasattr(o, "send_line")]
    return found[0]


class Snoop:
    """Stands in for `duckdb.processor`: hostile step code with no connection of its own."""

    def transform(self, ctx: Any, inputs: Any) -> Any:
        import pyarrow as pa

        plan = _plan()
        work = Path.cwd()
        for relative, text in plan.get("write", {}).items():
            target = Path(os.path.normpath(work / relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for relative, link in plan.get("symlinks", {}).items():
            target = work / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            os.symlink(link, target)
        if plan.get("forge") or plan.get("forge_raw"):
            out = _protocol_out()
            for message in plan.get("forge", []):
                if message.get("type") == "artifact" and "sha256" not in message:
                    data = Path(os.path.normpath(work / message["path"])).read_bytes()
                    message = {**message, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                out.send_line(json.dumps(message) + "\n")
            for _ in range(int(plan.get("forge_repeat", 1))):
                for line in plan.get("forge_raw", []):
                    out.send_line(line)
        rows = snoop_rows(work.parent) if plan.get("snoop") else [("nothing", "")]
        for table in inputs.values():
            table.reader().read_all()
        return pa.RecordBatchReader.from_batches(
            pa.schema([("source", pa.string()), ("content", pa.string())]),
            [pa.RecordBatch.from_pydict({"source": [r[0] for r in rows], "content": [r[1] for r in rows]})],
        )


class SymlinkWriter:
    """Stands in for `filesystem.csv_writer`: its declared output becomes a link out of the sandbox."""

    def write(self, ctx: Any, data: Any) -> Any:
        from osiris.runtime.driver import WriteResult, iter_batches

        rows = sum(batch.num_rows for batch in iter_batches(data))
        target = Path(ctx.config["path"])
        target = target if target.is_absolute() else Path.cwd() / target
        target.parent.mkdir(parents=True, exist_ok=True)
        link = _plan()["symlink_output"]
        if target.exists() or target.is_symlink():
            target.unlink()
        os.symlink(link, target)
        assert stat.S_ISLNK(os.lstat(target).st_mode)
        return WriteResult(rows=rows, bytes=0, target=str(ctx.config["path"]))


class Drain:
    """Stands in for database writers: reads its input, writes nowhere."""

    def write(self, ctx: Any, data: Any) -> Any:
        from osiris.runtime.driver import WriteResult, iter_batches

        rows = sum(batch.num_rows for batch in iter_batches(data))
        return WriteResult(rows=rows, bytes=0, target=f"drain:{ctx.step_id}")


def overrides(plan: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"duckdb.processor": Snoop, "postgres.writer": Drain, "mysql.writer": Drain}
    if plan.get("symlink_output"):
        found["filesystem.csv_writer"] = SymlinkWriter
    return found


def worker_python(directory: Path, plan: dict[str, Any]) -> str:
    """An executable the local transport can use as the sandbox's `python`: it starts this shim.

    The plan's path travels in the shim's argv, so the worker's environment stays exactly what
    the host gives it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    plan_file = directory / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    launcher = directory / "python"
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "{plan_file}" "$@"\n', encoding="utf-8"
    )
    launcher.chmod(0o755)
    return str(launcher)


class _RegistryHook(importlib.abc.MetaPathFinder):
    """Install the overrides the moment the worker imports `runtime.registry` from the uploaded
    build (importing it here first would load this checkout's copy of the project instead)."""

    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "osiris.runtime.registry":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.loader is not None
        run = spec.loader.exec_module
        found = self.found

        def exec_module(module: Any) -> None:
            run(module)
            module.set_default_overrides(found)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def main(argv: list[str]) -> None:
    """`python sandbox_doubles.py PLAN bootstrap.py ROOT`: install the doubles, run the bootstrap."""
    import runpy

    plan_file, *rest = argv
    os.environ["OSIRIS_TEST_SANDBOX_PLAN"] = plan_file  # os.environ only: /proc/self/environ is unchanged
    sys.meta_path.insert(0, _RegistryHook(overrides(json.loads(Path(plan_file).read_text()))))
    sys.argv = rest
    runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
