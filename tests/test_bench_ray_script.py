"""bench/ray.py imports, parses its arguments and computes its figures right (no benchmark runs here).

The heavy parts (Ray clusters, 10M rows) are not run; what is checked is what the printed
tables rest on: the argument defaults and --quick, the phase split read from events, the output
fingerprint that must match across backends, the 1 -> 2 CPU ratio, and the process-tree sampler.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    before = list(sys.path)
    spec = importlib.util.spec_from_file_location("osiris_bench_ray", REPO / "bench" / "ray.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    assert sys.path == before, "bench/ray.py must not put bench/ on sys.path: it would shadow the real ray"
    sys.modules[spec.name] = module
    yield module
    sys.modules.pop(spec.name, None)


def test_defaults_are_the_full_benchmark(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.rows, args.reps, args.overhead_reps) == (10_000_000, 3, 5)
    assert args.config == [(1, 1), (1, 2), (2, 2), (2, 4)]
    assert args.only == ["overhead", "scale"]
    assert args.json is None


def test_quick_is_one_round_of_a_million_rows(bench: ModuleType) -> None:
    args = bench.parse_args(["--quick", "--only", "scale", "--config", "2X4", "--json", "out.json"])
    assert (args.rows, args.reps, args.overhead_reps) == (1_000_000, 1, 1)
    assert args.config == [(2, 4)]
    assert args.only == ["scale"]
    assert args.json == Path("out.json")


@pytest.mark.parametrize("argv", [["--config", "2by4"], ["--config", "0x2"], ["--reps", "0"],
                                  ["--only", "everything"]])
def test_bad_arguments_are_usage_errors(bench: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(argv)
    assert exit_.value.code == 2


def _event(name: str, second: float, **fields: object) -> dict[str, object]:
    return {"event": name, "ts": f"2026-12-04T20:00:{second:06.3f}Z", **fields}


def test_phases_split_a_ray_run_at_its_events(bench: ModuleType) -> None:
    base = bench._ts(_event("x", 0))
    events = [
        _event("run_start", 1.0), _event("compile_complete", 1.2), _event("ray_plan", 4.2),
        _event("step_start", 4.5, step_id="extract"),
        _event("partition_complete", 6.0, step_id="extract"), _event("partition_complete", 7.0, step_id="extract"),
        _event("step_complete", 7.1, step_id="extract"), _event("step_complete", 9.0, step_id="write"),
        _event("run_end", 10.0),
    ]
    got = bench.phases(events, base + 0.5, base + 10.25, "extract")
    assert got == {"start": 500.0, "compile": 200.0, "setup": 3000.0, "steps": 4800.0, "finish": 1000.0,
                   "exit": 250.0, "extract": 2900.0, "write": 1900.0}


def test_a_local_run_starts_its_steps_without_a_plan(bench: ModuleType) -> None:
    base = bench._ts(_event("x", 0))
    events = [_event("run_start", 1.0), _event("compile_complete", 1.5), _event("step_start", 1.75),
              _event("step_complete", 3.0), _event("run_end", 3.5)]
    got = bench.phases(events, base, base + 4.0)
    assert got == {"start": 1000.0, "compile": 500.0, "setup": 250.0, "steps": 1250.0, "finish": 500.0,
                   "exit": 500.0}


def test_fingerprint_tells_a_changed_amount_and_a_changed_type(bench: ModuleType, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    amounts = [Decimal("10.25"), Decimal("0.01"), None]
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": pa.array(amounts, pa.decimal128(12, 2)),
                      "created": pa.array([0, 1, 2], pa.timestamp("ms"))})
    pq.write_table(table, tmp_path / "a.parquet")
    want = bench.fingerprint(tmp_path / "a.parquet")
    assert want["rows"] == 3 and want["id_sum"] == 6 and Decimal(want["amount_sum"]) == Decimal("10.26")
    assert want["types"]["created"] == "timestamp[ms]"
    assert bench.differences(want, want) == []

    changed = table.set_column(1, "amount", pa.array([Decimal("10.25"), Decimal("0.02"), None],
                                                     pa.decimal128(12, 2)))
    pq.write_table(changed.set_column(2, "created", table["created"].cast(pa.timestamp("us"))),
                   tmp_path / "b.parquet")
    found = bench.differences(bench.fingerprint(tmp_path / "b.parquet"), want)
    assert len(found) == 2
    assert found[0].startswith("amount_sum 10.27 != 10.26")
    assert "timestamp[us]" in found[1]


def test_scaling_compares_one_and_two_cpus(bench: ModuleType) -> None:
    med = {"local": 10.0, "ray 1 CPU, 1 part.": 30.0, "ray 1 CPU, 2 part.": 24.0, "ray 2 CPU, 2 part.": 16.0,
           "ray 2 CPU, 4 part.": 20.0}
    got = bench.scaling(med)
    assert set(got) == {"p2", "best"}
    assert got["p2"].startswith("1 -> 2 CPUs at 2 partition(s): 1.50x")
    assert got["best"].startswith("1 -> 2 CPUs, best configuration of each: 1.50x")


SAMPLER_PROBE = """
import importlib.util, json, subprocess, sys, time
spec = importlib.util.spec_from_file_location("bench_ray", sys.argv[1])
bench = importlib.util.module_from_spec(spec); sys.modules[spec.name] = bench; spec.loader.exec_module(bench)
code = ("import sys; block = bytearray(64 << 20); block[::4096] = b'x' * len(block[::4096]);"
        "print('ready', flush=True); sys.stdin.read()")
with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
    try:
        assert child.stdout.readline().strip() == "ready"
        with bench.TreeSampler(0.05) as sampler:
            deadline = time.monotonic() + 30
            while sampler.sample.rss_mb < 64 and time.monotonic() < deadline:
                time.sleep(0.05)
            child.stdin.close()
            child.wait(timeout=30)
    finally:
        child.kill()
print(json.dumps(vars(sampler.sample)))
"""


def test_the_sampler_sees_a_child_and_its_memory() -> None:
    # In a process of its own: the test session's other children (a Ray cluster) are not the probe's.
    done = subprocess.run([sys.executable, "-c", SAMPLER_PROBE, str(REPO / "bench" / "ray.py")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    sample = json.loads(done.stdout.strip().splitlines()[-1])
    assert sample["rss_mb"] >= 64 and sample["pss_mb"] >= 64
    assert sample["workers_rss_mb"] == 0  # not a ray:: worker
    assert sample["processes"] >= 1 and sample["leftovers"] == 0
