"""A command that fails says so in its exit status: no subcommand exits 0 on bad input.

`omlc graph` printed a graph and exited 0 for a file `omlc check` rejects, so a CI step
`omlc graph p.yaml > graph.mmd` passed on a broken pipeline. Now graph exits 1 with the same
diagnostics as check (and prints no graph). The audit below runs every omlc and osiris
subcommand on an input it must refuse, as a real process, and checks the status and that the
reason is on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(300)

VALID = ('oml_version: "0.1.0"\nname: ok\nparams:\n  country: {type: string}\nsteps:\n  - id: extract\n'
         "    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n"
         "  - id: keep\n    component: duckdb.processor\n    needs: [extract]\n"
         "    config: {query: \"SELECT * FROM input_df WHERE country = ${params.country}\"}\n")
INVALID = VALID.replace("component: duckdb.processor", "component: duckdb.procesor")
CYCLE = VALID.replace("needs: [extract]", "needs: [keep]")  # a step that needs itself


def _run(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", module, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in (("valid.yaml", VALID), ("invalid.yaml", INVALID), ("cycle.yaml", CYCLE)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("file", "code"), [("invalid.yaml", "OML040"), ("cycle.yaml", "OML039"),
                                            ("valid.yaml", "OML062")])
def test_omlc_graph_exits_1_with_the_diagnostics_check_prints(project: Path, file: str, code: str) -> None:
    graph = _run("osiris.cli.omlc", "graph", file, cwd=project)
    check = _run("osiris.cli.omlc", "check", file, cwd=project)
    assert graph.returncode == check.returncode == 1, graph.stderr
    assert f"error[{code}]" in graph.stderr and graph.stdout == ""
    assert graph.stderr.splitlines()[0] == check.stderr.splitlines()[0]


def test_omlc_graph_draws_a_pipeline_that_checks(project: Path) -> None:
    done = _run("osiris.cli.omlc", "graph", "valid.yaml", "--param", "country=CZ", "--format", "dot", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digraph") and "extract" in done.stdout and "keep" in done.stdout


FAILURES = [
    ("osiris.cli.omlc", ["check", "invalid.yaml"], 1),
    ("osiris.cli.omlc", ["check", "missing.yaml"], 1),
    ("osiris.cli.omlc", ["compile", "invalid.yaml", "--out", "build"], 1),
    ("osiris.cli.omlc", ["compile", "valid.yaml", "--param", "country=CZ", "--out", "valid.yaml"], 1),
    ("osiris.cli.omlc", ["fmt", "--check", "missing.yaml"], 1),
    ("osiris.cli.omlc", ["graph", "missing.yaml"], 1),
    ("osiris.cli.omlc", ["schema", "--out", "valid.yaml/schema.json"], 1),
    ("osiris.cli.omlc", ["explain", "OML999"], 2),
    ("osiris.cli.omlc", ["check"], 2),
    ("osiris.cli.osiris", ["run", "invalid.yaml"], 1),
    ("osiris.cli.osiris", ["run", "missing.yaml"], 2),
    ("osiris.cli.osiris", ["run", "--manifest", "nowhere"], 2),
    ("osiris.cli.osiris", ["components", "show", "duckdb.procesor"], 2),
    ("osiris.cli.osiris", ["connections", "list", "--connections", "missing.yaml"], 2),
    ("osiris.cli.osiris", ["connections", "doctor", "--connections", "invalid.yaml"], 1),
    ("osiris.cli.osiris", ["logs", "show", "nope"], 2),
    ("osiris.cli.osiris", ["logs", "list", "--session-dir", "valid.yaml"], 2),
    ("osiris.cli.osiris", ["logs", "gc", "--keep", "1", "--session-dir", "valid.yaml"], 2),
    ("osiris.cli.osiris", ["logs", "gc"], 2),
    ("osiris.cli.osiris", ["report", "nope"], 2),
    ("osiris.cli.osiris", ["init", "valid.yaml"], 2),
    ("osiris.cli.osiris", ["chat", "-m", "x"], 2),
    ("osiris.cli.osiris", ["no-such-command"], 2),
]


@pytest.mark.parametrize(("module", "argv", "status"), FAILURES,
                         ids=[f"{m.split('.')[0]}-{'-'.join(a[:2])}" for m, a, _ in FAILURES])
def test_every_subcommand_fails_loudly(project: Path, module: str, argv: list[str], status: int) -> None:
    done = _run(module, *argv, cwd=project)
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip(), "a failure must say why on stderr"
    assert "Traceback" not in done.stderr
