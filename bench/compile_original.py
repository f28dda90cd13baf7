"""`omlc compile` against the original Osiris's `osiris compile`, whole processes, in one run.

    .venv/bin/python bench/compile_original.py                  # demo + 10 / 100 / 1,000 steps, 5 rounds
    .venv/bin/python bench/compile_original.py --sizes 10 100 --rounds 3
    .venv/bin/python bench/compile_original.py --ours-at f9f743a   # and an earlier commit of ours
    .venv/bin/python bench/compile_original.py --build-original DIR   # make the original's venv first

The original (keboola/osiris at e6d55ed, where the conformance examples come from) lives in its
own virtualenv, ORIGINAL_VENV below, never in this project's dependencies: `--build-original DIR`
creates it from a checkout or `git archive` of that commit (`pip install DIR`, from the registry).

Cases: the original's demo pipeline (../shared/conformance/upstream-v0.1.0/examples/
mysql_duckdb_supabase_demo.yaml) and pipelines of N steps that both compilers accept, made by
repeating the demo's three steps (MySQL extract -> DuckDB transform -> Supabase write) with
numbered ids. Each case runs in its own scratch folder holding the connections file the
conformance tests use, and each process compiles into the same place every round, as a user
recompiling does (ours: `omlc compile FILE --out out`, replacing it; the original: its build/
folder). Sides are interleaved round by round; figures are medians.

Ours runs twice per round: with byte-code cached (PYTHONDONTWRITEBYTECODE dropped, the caches
written by a warm-up run, as an installed copy has them) and from source (the project's
modules copied without __pycache__ and imported first on PYTHONPATH, PYTHONDONTWRITEBYTECODE=1:
every process compiles every module it imports). The original runs as pip installed it (its
wheel's byte-code written at install). `--ours-at REF` adds our tree at an earlier
commit (git archive, imported first on PYTHONPATH, byte-code cached), for before/after figures
from the same run. A run that exits non-zero or writes no manifest stops the benchmark.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_VENV = Path.home() / ".cache" / "osiris-bench" / "original-venv"
CONFORMANCE = REPO.parent / "shared" / "conformance" / "upstream-v0.1.0"
DEMO = CONFORMANCE / "examples" / "mysql_duckdb_supabase_demo.yaml"
OMLC = Path(sys.executable).with_name("omlc")
CONNECTIONS = """version: 1
connections:
  mysql:
    db_movies:
      host: 127.0.0.1
      database: movies
      user: root
      password: ${MYSQL_PASSWORD:-}
  supabase:
    main:
      url: http://127.0.0.1:54321
      service_role_key: ${SUPABASE_SERVICE_ROLE_KEY}
"""
"""As tests/compiler/test_conformance.py writes it."""

_GROUP = """\
- id: extract-{n}
  component: mysql.extractor
  mode: read
  config:
    connection: "@mysql.db_movies"
    query: |
      SELECT m.movie_id, m.title, m.release_year, m.director_id, m.genre, m.budget_usd,
             d.name AS director_name
      FROM movies m
      JOIN directors d ON m.director_id = d.director_id
      WHERE m.director_id IS NOT NULL
- id: stats-{n}
  component: duckdb.processor
  mode: transform
  needs: ["extract-{n}"]
  config:
    query: |
      SELECT director_id, director_name, COUNT(*) AS movie_count,
             ROUND(AVG(budget_usd), 0) AS avg_budget_usd
      FROM input_df
      WHERE budget_usd IS NOT NULL
      GROUP BY director_id, director_name
- id: write-{n}
  component: supabase.writer
  mode: write
  needs: ["stats-{n}"]
  config:
    connection: "@supabase.main"
    table: "director_stats_{n}"
    create_if_missing: true
    write_mode: "replace"
    primary_key: ["director_id"]
"""


def pipeline(steps: int) -> str:
    """An OML v0.1.0 file of `steps` steps both compilers accept: the demo's three steps repeated."""
    body = "".join(_GROUP.format(n=n) for n in range((steps + 2) // 3))
    kept = body.split("\n- id: ")[:steps]
    return f'oml_version: "0.1.0"\nname: bench-{steps}\n\nsteps:\n' + "\n- id: ".join(kept).rstrip("\n") + "\n"


def _source_copy(scratch: Path, tree: Path = REPO, name: str = "source") -> Path:
    """`tree`'s packages copied without byte-code, laid out as its pyproject's package-dir maps them."""
    mapping = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    root = scratch / name
    for package, folder in mapping.items():
        shutil.copytree(tree / folder, root.joinpath(*package.split(".")),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def _copy_at(scratch: Path, ref: str) -> Path:
    """This repository's packages as of commit `ref` (git archive), laid out for PYTHONPATH."""
    tree = scratch / f"tree-{ref}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return _source_copy(scratch, tree, f"at-{ref}")


class Side:
    """One way of compiling: the command for a pipeline file and the environment to run it in."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], manifest: str) -> None:
        self.name, self.argv, self.env, self.manifest = name, list(argv), env, manifest

    def run(self, case: Path, file: str) -> float:
        """Seconds of one whole process compiling `case/file`; stops the benchmark if it fails."""
        argv = [part.format(file=file) for part in self.argv]
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=case, env=self.env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        produced = list(case.glob(self.manifest))
        if done.returncode != 0 or not produced:
            raise SystemExit(f"{self.name} failed on {case / file} (exit {done.returncode}):\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return seconds


def sides(scratch: Path, base_env: dict[str, str], source_mode: bool, refs: Sequence[str] = ()) -> list[Side]:
    original = ORIGINAL_VENV / "bin" / "osiris"
    if not original.is_file():
        raise SystemExit(f"no original Osiris at {original}: run with --build-original DIR "
                         "(a checkout of keboola/osiris at e6d55ed)")
    cached = {k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = [Side("original `osiris compile`", [str(original), "compile", "{file}"], cached,
                   "build/pipelines/**/manifest.yaml"),
              Side("ours, byte-code cached", [str(OMLC), "compile", "{file}", "--out", "out"], cached,
                   "out/manifest.yaml")]
    if source_mode:
        path = os.pathsep.join(filter(None, [str(_source_copy(scratch)), cached.get("PYTHONPATH")]))
        result.append(Side("ours, from source", [str(OMLC), "compile", "{file}", "--out", "out"],
                           {**cached, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}, "out/manifest.yaml"))
    for ref in refs:  # an earlier commit of ours, byte-code cached (written into its copy by the warm-up)
        path = os.pathsep.join(filter(None, [str(_copy_at(scratch, ref)), cached.get("PYTHONPATH")]))
        result.append(Side(f"ours at {ref}, cached", [str(OMLC), "compile", "{file}", "--out", "out"],
                           {**cached, "PYTHONPATH": path}, "out/manifest.yaml"))
    return result


def build_original(src: Path) -> None:
    """Create ORIGINAL_VENV with the same interpreter as this one and pip-install `src` into it."""
    if not (src / "pyproject.toml").is_file():
        raise SystemExit(f"{src} holds no pyproject.toml: give a checkout of keboola/osiris at e6d55ed")
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", str(ORIGINAL_VENV)], check=True)
    subprocess.run([str(ORIGINAL_VENV / "bin" / "pip"), "install", "-q", str(src)], check=True)


def whole_number(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=whole_number, nargs="+", default=[10, 100, 1000],
                        help="generated pipelines' step counts (the demo always runs)")
    parser.add_argument("--rounds", type=whole_number, default=5, help="interleaved rounds (median)")
    parser.add_argument("--no-source", action="store_true", help="skip ours-from-source (no byte-code)")
    parser.add_argument("--ours-at", nargs="+", default=[], metavar="REF",
                        help="also time these commits of ours (before/after in the same run)")
    parser.add_argument("--build-original", type=Path, metavar="DIR",
                        help=f"create {ORIGINAL_VENV} from this checkout of the original, then measure")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.build_original:
        build_original(args.build_original)
    if not DEMO.is_file():
        raise SystemExit(f"the original's demo pipeline is missing: {DEMO}")
    env = {**os.environ, "SUPABASE_SERVICE_ROLE_KEY": "bench-key"}
    with tempfile.TemporaryDirectory(prefix="osiris-bench-original-") as tmp:
        scratch = Path(tmp)
        everyone = sides(scratch, env, not args.no_source, args.ours_at)
        cases: dict[str, tuple[Path, str]] = {}
        texts = {"demo pipeline (3 steps)": DEMO.read_text(encoding="utf-8")}
        texts.update({f"{n:,} steps": pipeline(n) for n in args.sizes})
        for number, (label, text) in enumerate(texts.items()):
            case = scratch / f"case{number}"
            case.mkdir()
            (case / "osiris_connections.yaml").write_text(CONNECTIONS, encoding="utf-8")
            (case / "pipeline.yaml").write_text(text, encoding="utf-8")
            cases[label] = (case, "pipeline.yaml")
        times: dict[tuple[str, str], list[float]] = {}
        for case, file in cases.values():  # warm-up: byte-code caches, the spec cache, first outputs
            for side in everyone:
                side.run(case, file)
        for _ in range(args.rounds):
            for label, (case, file) in cases.items():
                for side in everyone:
                    times.setdefault((label, side.name), []).append(side.run(case, file))
    print(f"python {sys.version.split()[0]}; whole processes, median of {args.rounds} interleaved rounds\n")
    names = [side.name for side in everyone]
    print("| pipeline | " + " | ".join(names) + " | original / ours (cached) |")
    print("|---|" + "---:|" * (len(names) + 1))
    for label in cases:
        medians = [statistics.median(times[(label, name)]) for name in names]
        cells = " | ".join(f"{m * 1000:,.0f} ms" for m in medians)
        print(f"| {label} | {cells} | {medians[0] / medians[1]:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
