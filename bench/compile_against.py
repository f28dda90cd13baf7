"""The compiler now against an earlier commit, in one run: in-process compile times and `omlc check`.

    .venv/bin/python bench/compile_against.py REF            # e.g. a92531c (before issue 9)
    .venv/bin/python bench/compile_against.py REF --rounds 2 --checks 20

REF is checked out into a temporary git worktree and imported from there (PYTHONPATH) with
this checkout's virtualenv, so both sides use the same interpreter and libraries. A tree laid out
under the `osiris` namespace (pyproject's package-dir) is imported through a symlinked `osiris/`
folder placed first on the path, so the editable install's hook never answers for it. The two
sides alternate: `bench/compile.py` runs `--rounds` times each (best of its own repeats per
size), then `omlc check` of a 5-step pipeline runs `--checks` times each, interleaved, as a
whole process. Byte-code caches are allowed (PYTHONDONTWRITEBYTECODE is dropped), as in any
installed copy; with it set, every run recompiles each module's source and the process figure
grows with the amount of code rather than with what it does.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from compile import pipeline  # noqa: E402

ROW = re.compile(r"^\| ([\d,]+) \| [\d,]+ \| \d+ \| [\d,.]+ ms \| ([\d,.]+) ms \|")


def _package_dirs(tree: Path) -> dict[str, str]:
    config = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    return config.get("tool", {}).get("setuptools", {}).get("package-dir", {})


@functools.cache
def _import_root(tree: Path) -> Path:
    """Where `tree`'s packages import from: the tree itself (old layout) or a symlinked osiris/ folder."""
    mapping = _package_dirs(tree)
    if not mapping:
        return tree
    farm = Path(tempfile.mkdtemp(prefix="osiris-bench-imports-"))
    atexit.register(shutil.rmtree, farm, ignore_errors=True)
    for name, folder in mapping.items():
        link = farm.joinpath(*name.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(tree / folder, target_is_directory=True)
    return farm


def _env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(_import_root(tree)), str(tree)])}


def _omlc(tree: Path) -> list[str]:
    module = "osiris.cli.omlc" if (tree / "cli" / "omlc.py").is_file() else "compiler.cli"
    return [sys.executable, "-m", module]


def compile_times(tree: Path, sizes: list[str]) -> dict[int, float]:
    """steps -> best in-process compile ms, from bench/compile.py's table in `tree`."""
    done = subprocess.run([sys.executable, "bench/compile.py", "--sizes", *sizes], cwd=tree, env=_env(tree),
                          capture_output=True, text=True, check=True)
    return {int(m.group(1).replace(",", "")): float(m.group(2).replace(",", ""))
            for line in done.stdout.splitlines() if (m := ROW.match(line))}


def check_ms(tree: Path, path: Path) -> float:
    start = time.perf_counter()
    subprocess.run([*_omlc(tree), "check", str(path)], cwd=path.parent, env=_env(tree),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to compare against")
    parser.add_argument("--sizes", nargs="+", default=["10", "100", "1000", "10000"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--checks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osiris-bench-") as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.ref], cwd=REPO, check=True)
        try:
            trees = {args.ref: base, "HEAD": REPO}
            best: dict[str, dict[int, float]] = {name: {} for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    for size, ms in compile_times(tree, args.sizes).items():
                        best[name][size] = min(ms, best[name].get(size, ms))
            small = Path(scratch) / "p5.yaml"
            small.write_text(pipeline(5), encoding="utf-8")
            for tree in trees.values():
                check_ms(tree, small)  # writes the byte-code caches
            checks: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.checks):
                for name, tree in trees.items():
                    checks[name].append(check_ms(tree, small))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False)
    print(f"| steps | {args.ref} compile | HEAD compile | HEAD / {args.ref} |")
    print("|---:|---:|---:|---:|")
    for size in sorted(best["HEAD"]):
        old, new = best[args.ref][size], best["HEAD"][size]
        print(f"| {size:,} | {old:,.1f} ms | {new:,.1f} ms | {new / old:.2f}x |")
    old_c, new_c = statistics.median(checks[args.ref]), statistics.median(checks["HEAD"])
    label = f"`omlc check`, 5 steps, median of {args.checks}"
    print(f"| {label} | {old_c:.0f} ms | {new_c:.0f} ms | {new_c / old_c:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
