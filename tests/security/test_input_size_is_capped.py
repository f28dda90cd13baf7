"""Inputs are capped: OSIRIS_MAX_INPUT_SIZE (default 4 MiB), OML011, for files and for text.

A 5 MB pipeline took 14 s and 950 MB before a single diagnostic. Now a file over the cap is
refused from its size (never read past cap + 1 bytes), text handed over in memory (a model's
draft) meets the same cap, a malformed setting is an error rather than "no limit", and the
cap still admits the compile benchmark's 10,000-step pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from osiris.compiler.api import CompileOptions, compile_path, compile_text
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.source import DEFAULT_MAX_INPUT_BYTES, InputError, max_input_bytes, read_bytes
from osiris.oml.yaml_loader import compose_checked
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(60)

PIPELINE = ('oml_version: "0.1.0"\nname: capped\nsteps:\n  - id: extract\n'
            "    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n")


def _codes(result) -> set[str]:  # noqa: ANN001
    return {d.code for d in result.diagnostics if d.severity == "error"}


def test_a_file_over_the_default_cap_is_refused_from_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # sparse: the size is there, the bytes never are
        handle.write(PIPELINE.encode())
        handle.truncate(DEFAULT_MAX_INPUT_BYTES + 1)
    result = compile_path(big, CompileOptions(search_connections=False, env={}))
    assert _codes(result) == {"OML011"}
    (diagnostic,) = result.diagnostics
    assert "4,194,305 bytes" in diagnostic.message and "4 MiB" in diagnostic.message
    assert "OSIRIS_MAX_INPUT_SIZE" in (diagnostic.help or "")


def test_a_file_at_the_cap_is_read(tmp_path: Path) -> None:
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(PIPELINE.encode().ljust(1000, b"\n"))
    assert len(read_bytes(exact, "exact.yaml", 1000)) == 1000
    with pytest.raises(InputError) as caught:
        read_bytes(exact, "exact.yaml", 999)
    assert caught.value.code == "OML011"


def test_the_cap_is_configurable_through_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    small = CompileOptions(search_connections=False, env={"OSIRIS_MAX_INPUT_SIZE": "100"})
    assert _codes(compile_path(path, small)) == {"OML011"}
    roomy = CompileOptions(search_connections=False, env={"OSIRIS_MAX_INPUT_SIZE": "1KiB"})
    assert _codes(compile_path(path, roomy)) == set()
    assert max_input_bytes({"OSIRIS_MAX_INPUT_SIZE": "16MiB"}) == 16 * 2**20
    assert max_input_bytes({"OSIRIS_MAX_INPUT_SIZE": "2MB"}) == 2_000_000
    assert max_input_bytes({}) == DEFAULT_MAX_INPUT_BYTES == 4 * 2**20


@pytest.mark.parametrize("value", ["lots", "-1", "0", "1e9", "12 parsecs"])
def test_a_malformed_setting_is_an_error_not_no_limit(value: str) -> None:
    result = compile_text(PIPELINE, "p.yaml", CompileOptions(search_connections=False,
                                                             env={"OSIRIS_MAX_INPUT_SIZE": value}))
    assert _codes(result) == {"OML011"}
    assert "OSIRIS_MAX_INPUT_SIZE" in result.diagnostics[0].message


def test_text_in_memory_meets_the_same_cap() -> None:
    """A model's draft never touches the disk: compile_text checks its size (UTF-8 bytes)."""
    text = PIPELINE + "description: " + "é" * 600 + "\n"  # 1,200 bytes, fewer characters
    capped = CompileOptions(search_connections=False, env={"OSIRIS_MAX_INPUT_SIZE": "1000"})
    assert len(text) < 1000 < len(text.encode())
    assert _codes(compile_text(text, "draft.yaml", capped)) == {"OML011"}

    from osiris.llm.repair import check_oml

    assert {d.code for d in check_oml(text, env={"OSIRIS_MAX_INPUT_SIZE": "1000"}).diagnostics} == {"OML011"}


def test_the_connections_file_is_capped_too(tmp_path: Path) -> None:
    conns = tmp_path / "osiris_connections.yaml"
    conns.write_text("version: 1\nconnections: {}\n" + "# padding\n" * 200, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSIRIS_MAX_INPUT_SIZE": "1KiB"}
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "osiris.cli.omlc", "check", "p.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "osiris_connections.yaml:1:1: error[OML011]" in done.stderr


def test_omlc_and_osiris_refuse_an_oversized_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE + "# padding\n" * 300, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSIRIS_MAX_INPUT_SIZE": "2KiB", "NO_COLOR": "1"}
    for argv in (["osiris.cli.omlc", "check", "p.yaml"], ["osiris.cli.omlc", "fmt", "p.yaml"],
                 ["osiris.cli.omlc", "graph", "p.yaml"], ["osiris.cli.osiris", "run", "p.yaml"]):
        done = subprocess.run([sys.executable, "-m", *argv], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 1, (argv, done.stderr)
        assert "error[OML011]" in done.stderr and "over the input limit of 2,048 bytes" in done.stderr, argv


def test_the_cap_admits_the_compile_benchmark() -> None:
    """bench/compile.py's largest pipeline (10,000 steps, about 2 MiB) loads within the default
    size and value limits (compiling it is the benchmark's job)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from compile import pipeline  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO / "bench"))
    text = pipeline(10_000)
    assert len(text.encode()) < DEFAULT_MAX_INPUT_BYTES
    diagnostics = Diagnostics()
    assert compose_checked(text, "bench.yaml", diagnostics, DEFAULT_MAX_INPUT_BYTES) is not None
    assert not list(diagnostics)


def test_a_big_file_gets_libyamls_verdict_without_a_slow_second_parse() -> None:
    """The pure-Python parser (about 4 s per MB) only re-reads documents up to 256 KiB that
    libyaml rejects; above that libyaml's error is final, so a near-cap file with a mistake at
    its end is rejected at libyaml's speed."""
    corner = "x-corner: [b:c]\n"  # YAML 1.2 that libyaml refuses and the pure parser accepts
    small = PIPELINE + corner
    big = PIPELINE + "description: |\n" + "".join("  " + "y" * 100 + "\n" for _ in range(3_000)) + corner
    assert len(big) > 256 * 1024
    options = CompileOptions(search_connections=False, env={})
    assert "OML001" not in _codes(compile_text(small, "small.yaml", options))
    assert _codes(compile_text(big, "big.yaml", options)) == {"OML001"}
