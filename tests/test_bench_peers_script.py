"""bench/peers.py judges each tool's output and prints its ratios right (no benchmark runs here).

The timed runs need the peers' own virtualenv and millions of seeded rows; what is checked is
what the published table rests on: an output with the wrong rows, an inexact sum, a float
amount or a zoned/string timestamp is marked FAILED (a tool cannot be faster by being wrong),
the ratio column reads the right way round, a failed child's telling stderr line is kept, and
the arguments' defaults are the full benchmark.
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
ROWS = [(1, Decimal("10.25")), (2, Decimal("-3.10")), (3, None)]
WANT = (3, Decimal("7.15"))
CENTS = pa.decimal128(12, 2)
NAIVE_US = pa.timestamp("us")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    before = list(sys.path)
    spec = importlib.util.spec_from_file_location("osiris_bench_peers", REPO / "bench" / "peers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = before  # bench/ holds ray.py: it must not shadow the real package for later tests
    return module


def _parquet(path: Path, *, amount: pa.DataType = CENTS, created: pa.DataType = NAIVE_US,
             rows: list = ROWS) -> Path:
    amounts = [None if a is None else (float(a) if pa.types.is_floating(amount) else a) for _, a in rows]
    stamps = [1_700_000_000_000_000 + i for i in range(len(rows))]
    created_values = pa.array(stamps, pa.int64()).cast(created) if pa.types.is_timestamp(created) \
        else pa.array([str(s) for s in stamps], created)
    table = pa.table({"id": [i for i, _ in rows], "amount": pa.array(amounts, amount), "created": created_values})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def test_a_correct_output_passes(bench: ModuleType, tmp_path: Path) -> None:
    result = bench.verify(_parquet(tmp_path / "ok.parquet"), WANT)
    assert result["ok"], result["why"]
    assert (result["rows"], result["sum"], result["created_type"]) == (3, "7.15", "timestamp[us]")
    assert bench.verdict({"checks": [result]}) == "3 rows, sum exact, created timestamp[us], amount decimal128(12, 2)"


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"rows": ROWS[:2]}, "2 rows, expected 3"),
    ({"rows": [(1, Decimal("10.25")), (2, Decimal("-3.11")), (3, None)]}, "sum(amount) 7.14, expected 7.15"),
    ({"amount": pa.float64()}, "amount is double, not a decimal"),
    ({"created": pa.timestamp("us", tz="UTC")}, "created is timestamp[us, tz=UTC], not a timestamp without time zone"),
    ({"created": pa.string()}, "created is string, not a timestamp without time zone"),
])
def test_a_wrong_output_is_marked_failed(bench: ModuleType, tmp_path: Path, kwargs: dict, why: str) -> None:
    result = bench.verify(_parquet(tmp_path / "bad.parquet", **kwargs), WANT)
    assert not result["ok"]
    assert why in result["why"]
    assert bench.verdict({"checks": [result]}).startswith("FAILED: ")


def test_a_dataset_directory_is_read_whole_and_dlt_state_files_are_not_data(bench: ModuleType, tmp_path: Path) -> None:
    _parquet(tmp_path / "out" / "a" / "part-1.parquet", rows=ROWS[:2])
    _parquet(tmp_path / "out" / "b" / "part-2.parquet", rows=ROWS[2:])
    _parquet(tmp_path / "out" / "_dlt_loads" / "_dlt_loads.parquet", rows=ROWS)
    result = bench.verify(tmp_path / "out", WANT)
    assert result["ok"], result["why"]
    assert bench.verify(tmp_path / "nothing", WANT) == {"ok": False, "why": "no parquet output"}


def test_an_unverified_floor_says_so(bench: ModuleType) -> None:
    assert bench.verdict({"checks": []}) == "not verified (discarded)"


def test_a_failed_child_reports_its_telling_line_not_its_last(bench: ModuleType) -> None:
    stderr = "Traceback (most recent call last):\n  File x\nValueError: Table schema does not match schema used\n" \
             "  during handling\nRuntimeError: later"
    assert bench.reason(stderr) == "ValueError: Table schema does not match schema used"
    assert bench.reason("killed\n") == "killed"


def test_the_ratio_column_reads_from_our_side(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    def entry(seconds: float) -> dict:
        return {"median_s": seconds, "median_cpu_s": seconds, "peak_rss_mb": 100.0, "checks": []}

    summary = {"pg": {"ours": entry(2.0), "duckdb": entry(1.0), "floor": entry(4.0)}}
    labels = {"pg": {"ours": "ours", "duckdb": "duckdb", "floor": "floor"}}
    bench.report(1000, summary, {}, labels)
    lines = {line.split("|")[2].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("|") > 8}
    assert "**2.00x slower**" in lines["duckdb"] and "| 0.50 |" in lines["duckdb"]
    assert "2.00x faster" in lines["floor"] and "| 2.00 |" in lines["floor"]


def test_defaults_are_the_full_benchmark(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.rows, args.reps, args.only, args.json) == (3_000_000, 3, [], None)
    quick = bench.parse_args(["--quick", "--only", "pg", "--only", "my_load"])
    assert (quick.rows, quick.reps, quick.only) == (200_000, 1, ["pg", "my_load"])
    assert bench.parse_args(["--rows", "10,000,000"]).rows == 10_000_000


@pytest.mark.parametrize("argv", [["--rows", "0"], ["--reps", "-1"], ["--rows", "many"], ["--only", "sqlite"]])
def test_bad_arguments_are_usage_errors(bench: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(argv)
    assert exit_.value.code == 2


def test_the_docs_block_of_the_same_command_is_replaced_and_nothing_else(bench: ModuleType, tmp_path: Path) -> None:
    args = bench.parse_args(["--only", "pg"])
    command = bench.command_line(args)
    assert command == "bench/peers.py --rows 3000000 --reps 3 --only pg"
    other = "<!-- peers: bench/peers.py --rows 3000000 --reps 3 --only my -->\nmy old table\n<!-- /peers -->"
    docs = tmp_path / "performance.md"
    docs.write_text(f"# Title\n\n<!-- peers: {command} -->\nold table\n<!-- /peers -->\n\nprose\n\n{other}\n")
    bench.update_docs(docs, command, "\n| new | table |\n")
    assert docs.read_text() == (f"# Title\n\n<!-- peers: {command} -->\n| new | table |\n<!-- /peers -->\n\nprose\n\n"
                                f"{other}\n")


def test_a_command_without_its_block_in_the_docs_is_an_error_not_an_append(bench: ModuleType, tmp_path: Path) -> None:
    docs = tmp_path / "performance.md"
    docs.write_text("<!-- peers: bench/peers.py --rows 3000000 --reps 3 -->\nold\n<!-- /peers -->\n")
    with pytest.raises(SystemExit, match="no block between"):
        bench.update_docs(docs, "bench/peers.py --rows 1000000 --reps 3", "new")
    assert docs.read_text().endswith("old\n<!-- /peers -->\n")
    assert bench.parse_args(["--update-docs"]).update_docs == bench.DOCS


def test_only_our_own_failed_output_fails_the_run(bench: ModuleType) -> None:
    ok, bad = {"ok": True}, {"ok": False, "why": "2 rows, expected 3"}
    assert bench.exit_code({"my": {"ours": {"checks": [ok]}, "dlt_pyarrow": {"checks": [bad]}}}) == 0
    assert bench.exit_code({"pg": {"ours": {"checks": [ok, bad]}, "duckdb": {"checks": [ok]}}}) == 1


def test_every_other_repetition_runs_the_tools_in_reverse(bench: ModuleType) -> None:
    """No tool always runs right after the same one (a load after a load meets its table's drop)."""
    order: list[str] = []

    def tool(name: str):  # noqa: ANN202
        def measure():  # noqa: ANN202
            order.append(name)
            return bench.c.Run(1.0, 10.0, "", "", 0.5)
        return measure

    paths = {"pg": {"ours": (tool("ours"), None), "duckdb": (tool("duckdb"), None), "floor": (tool("floor"), None)}}
    summary = bench.measure_all(paths, 3, {"pg": WANT})
    assert order == ["ours", "duckdb", "floor", "floor", "duckdb", "ours", "ours", "duckdb", "floor"]
    assert summary["pg"]["ours"]["runs"] == 3
