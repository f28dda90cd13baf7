"""Mutation testing for the modules that guard safety: `make mutate [MODULE=path]`.

mutmut (a dev dependency) changes one thing at a time in a module (`<` for `<=`, a dropped
argument, a constant) and runs the fast tests that cover it; a mutant the tests do not notice
is a change to a safety check nobody would catch. Each module runs in its own scratch copy of
the working tree (.mutate/<module>/), so several people can mutate different modules at once
and uncommitted work is what gets mutated.

A surviving mutant is either killed by a new test or listed, with the reason it cannot change
behaviour, in docs/security.md's `mutation-testing` section (by its mutmut name). The run fails
when a survivor is neither. Scores go in docs/testing.md.

    .venv/bin/python .ci/mutate.py                       # every module below
    .venv/bin/python .ci/mutate.py oml/diagnostics.py    # one module
    .venv/bin/python .ci/mutate.py --head oml/diagnostics.py  # HEAD + this module and its tests
    .venv/bin/python .ci/mutate.py --list

Mutants are judged against a clean run of the selected tests, so they must pass first; with
other people's work in progress in the tree, `--head` starts from the last commit and takes
only the module, its tests and any `--with` paths from the working tree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".mutate"
SECURITY_DOC = REPO / "docs" / "security.md"

MODULES: dict[str, tuple[str, ...]] = {
    # module: the fast tests that cover it (globs; paths that do not exist yet are left out)
    # SQL binding: the unit tests and goldens; the database properties (tests/security/test_sql_*)
    # take minutes per run, too long to repeat for each of several hundred mutants.
    "compiler/sql_binding.py": ("tests/compiler/test_sql_binding.py", "tests/compiler/test_params.py",
                                "tests/compiler/test_golden.py"),
    "compiler/sql_lexing.py": ("tests/compiler/test_sql_binding.py", "tests/compiler/test_golden.py"),
    "compiler/sql_literals.py": ("tests/compiler/test_sql_binding.py", "tests/compiler/test_golden.py"),
    "compiler/passes/bind_params.py": ("tests/compiler/test_sql_binding.py", "tests/compiler/test_params.py",
                                       "tests/compiler/test_golden.py"),
    # the masking code lives in oml/secrets.py (runtime/secrets.py only re-exports it); in-process
    # tests only: a subprocess runs the unmutated code and fails under mutmut's trampolines
    "oml/secrets.py": ("tests/security/test_masking_forms.py", "tests/security/test_masking_is_exact.py",
                       "tests/llm/test_secrets.py"),
    "compiler/manifest.py": ("tests/compiler/test_golden.py",
                             "tests/runtime/test_damaged_manifest_fails_the_session.py",
                             "tests/compiler/test_manifest_schema.py", "tests/security/test_*manifest*.py"),
    # the rules a loaded manifest must satisfy; the attacks through the CLI run in a subprocess, which sees
    # no mutant, so the rules are pinned in process by test_manifest_verification_*.py
    "compiler/manifest_verify.py": ("tests/security/test_manifest_verification_*.py",
                                    "tests/security/test_manifest_tampering.py"),
    "compiler/path_policy.py": ("tests/compiler/test_golden.py", "tests/security/test_*path*.py"),
    "oml/diagnostics.py": ("tests/oml", "tests/compiler/test_golden.py"),
    "runtime/publish.py": ("tests/security/test_no_clobber_publish.py", "tests/drivers/test_files_common.py"),
}
SOURCE_PACKAGES = ("oml", "spec", "compiler", "runtime", "drivers", "llm")
NOT_COPIED = {".git", ".venv", ".mutate", ".hypothesis", ".pytest_cache", ".ruff_cache", ".mypy_cache",
              ".osiris", "out", "output", "debug_out", "build", "dist", "mutants"}
ALIAS_SHIM = '''"""Written by .ci/mutate.py into a scratch copy: `osiris.X` is the top-level `X` mutmut copied, mutated.

mutmut names a mutant after the `__name__` its file path gives (`compiler.sql_binding`), so the project's
`osiris.compiler...` imports are pointed at those modules instead of loading the installed, unmutated ones.
"""

import importlib
import importlib.abc
import importlib.util
import sys


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if not name.startswith("osiris."):
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return importlib.import_module(spec.name.removeprefix("osiris."))

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Alias())
'''
KILLED = ("killed", "timeout")
"""mutmut's own score counts a timeout as a kill: the mutant changed behaviour (it hangs)."""


class NotJudged(Exception):
    """The selected tests fail on the unmutated code."""


def scratch_dir(module: str) -> Path:
    return SCRATCH / module.removesuffix(".py").replace("/", ".")


def test_paths(module: str) -> list[str]:
    found: list[str] = []
    for pattern in MODULES[module]:
        matches = sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern))
        found += [m for m in matches if m not in found]
    return found


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), symlinks=True,
                        dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _prepare(module: str, scratch: Path, tests: list[str], head: list[str] | None) -> None:
    """A fresh copy of the working tree (or of HEAD plus the `head` paths from the working tree)
    with a [tool.mutmut] table for this module."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if head is None:
        for entry in REPO.iterdir():
            if entry.name not in NOT_COPIED and not entry.name.endswith(".egg-info"):
                _copy(entry, scratch / entry.name)
    else:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        for path in head:
            if (REPO / path).exists():
                _copy(REPO / path, scratch / path)
    (scratch / "osiris").mkdir(exist_ok=True)
    (scratch / "osiris" / "__init__.py").write_text(ALIAS_SHIM, encoding="utf-8")
    also_copy = sorted(e.name for e in scratch.iterdir() if e.name not in SOURCE_PACKAGES)
    table = {
        "source_paths": list(SOURCE_PACKAGES),
        "only_mutate": [module],
        "also_copy": also_copy,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    with (scratch / "pyproject.toml").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _mutmut(scratch: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if log is None:
        return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=scratch, env=env,
                              capture_output=True, text=True)
    with log.open("w", encoding="utf-8") as out:
        return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=scratch, env=env,
                              stdout=out, stderr=subprocess.STDOUT, text=True)


def documented_equivalents() -> set[str]:
    """Mutant names listed in docs/security.md's mutation-testing section."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    section = re.search(r"<!-- section: mutation-testing -->(.*?)<!-- end: mutation-testing -->", text, re.S)
    return set(re.findall(r"`([\w.]+__mutmut_\d+)`", section.group(1) if section else ""))  # \w takes mutmut's ǁ


def run_module(module: str, jobs: int, head: list[str] | None = None) -> dict:
    scratch = scratch_dir(module)
    tests = test_paths(module)
    _prepare(module, scratch, tests, None if head is None else [module, *tests, *head])
    log = scratch / "mutmut.log"
    started = time.monotonic()
    _mutmut(scratch, "run", "--max-children", str(jobs), log=log)
    elapsed = time.monotonic() - started
    _mutmut(scratch, "export-cicd-stats")
    stats_file = scratch / "mutants" / "mutmut-cicd-stats.json"
    text = log.read_text(encoding="utf-8", errors="replace")
    if not stats_file.is_file() or re.search(r"failed to collect stats|Failed to run clean test", text):
        failures = "\n".join(re.findall(r"^(?:FAILED|ERROR) .*$", text, re.M)) or text[-2000:]
        raise NotJudged(f"{module}: the selected tests fail before any mutation, so no mutant can be judged; "
                         f"fix them, or run with --head (log: {log.relative_to(REPO)}):\n{failures}")
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    listing = _mutmut(scratch, "results", "--all", "true").stdout
    status = dict(re.findall(r"^\s*(\S+): (.+?)\s*$", listing, re.M))
    survivors = sorted(name for name, state in status.items() if state not in KILLED)
    equivalent = documented_equivalents()
    unexplained = [name for name in survivors if name not in equivalent]
    diffs = {name: _mutmut(scratch, "show", name).stdout for name in unexplained}
    killed = sum(stats.get(k, 0) for k in KILLED)
    total = stats["total"] - stats.get("skipped", 0)
    return {"module": module, "tests": tests, "total": total, "killed": killed,
            "equivalent": len(survivors) - len(unexplained), "unexplained": unexplained,
            "states": {n: status[n] for n in unexplained}, "diffs": diffs,
            "seconds": round(elapsed), "scratch": str(scratch.relative_to(REPO))}


def report(result: dict) -> str:
    total, killed = result["total"], result["killed"]
    score = 100.0 * killed / total if total else 100.0
    lines = [f"{result['module']}: {killed}/{total} mutants killed ({score:.1f}%), "
             f"{result['equivalent']} documented equivalent, {len(result['unexplained'])} unexplained, "
             f"{result['seconds']} s",
             f"  tests: {' '.join(result['tests'])}"]
    for name in result["unexplained"]:
        lines.append(f"  {result['states'][name]}: {name}")
        lines += ["    " + line for line in result["diffs"][name].splitlines()[1:]]
    if result["unexplained"]:
        lines.append(f"  kill each with a test, or list it with the reason in docs/security.md "
                     f"(mutation-testing); browse: cd {result['scratch']} && ../../.venv/bin/mutmut browse")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="module paths (default: all of them)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATE_JOBS", "2")),
                        help="parallel mutants (default 2, or $MUTATE_JOBS)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--head", action="store_true",
                        help="start from HEAD; take only the module and its tests from the working tree")
    parser.add_argument("--with", dest="extra", action="append", default=[], metavar="PATH",
                        help="with --head: also take PATH (file or directory) from the working tree")
    args = parser.parse_args(argv)
    if args.list:
        for module in MODULES:
            print(f"{module}: {' '.join(test_paths(module)) or '(no tests yet)'}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)} (add new ones to MODULES)")
    failed = False
    for module in args.modules or list(MODULES):
        if not (REPO / module).is_file():
            print(f"{module}: does not exist yet, skipped")
            failed |= bool(args.modules)
            continue
        try:
            result = run_module(module, args.jobs, args.extra if args.head else None)
        except NotJudged as error:
            print(error, flush=True)
            failed = True
            continue
        print(report(result), flush=True)
        failed |= bool(result["unexplained"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
