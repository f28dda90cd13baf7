"""bench/compile_original.py's arguments and generated pipelines (no benchmark runs here).

The timed runs need the original Osiris's own virtualenv; what is checked is what its table
rests on: the defaults are the full benchmark, a count below 1 is a usage error, and the
generated pipelines have exactly the steps asked for and compile here without errors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from osiris.compiler.api import CompileOptions, compile_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = REPO / "bench" / "compile_original.py"
    spec = importlib.util.spec_from_file_location("osiris_bench_compile_original", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_the_full_benchmark(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.sizes, args.rounds, args.no_source) == ([10, 100, 1000], 5, False)
    assert (args.ours_at, args.build_original) == ([], None)


@pytest.mark.parametrize("argv", [["--rounds", "0"], ["--sizes", "10", "-3"], ["--rounds", "x"]])
def test_counts_below_one_are_usage_errors(bench: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(argv)
    assert exit_.value.code == 2


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 100])
def test_generated_pipelines_have_the_steps_asked_for_and_compile(bench: ModuleType, tmp_path: Path,
                                                                   steps: int) -> None:
    conns = tmp_path / "osiris_connections.yaml"
    conns.write_text(bench.CONNECTIONS)
    options = CompileOptions(connections=conns, env={"SUPABASE_SERVICE_ROLE_KEY": "k"})
    result = compile_text(bench.pipeline(steps), "bench.yaml", options)
    assert result.ok, [f"{d.span.line}:{d.code} {d.message}" for d in result.diagnostics]
    assert result.pipeline is not None and len(result.pipeline.steps) == steps
