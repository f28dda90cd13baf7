"""The Ray backend against the local one, side by side in one run: fixed overhead and scaling.

    .venv/bin/python bench/ray.py                         # overhead (5 reps) + 10M rows (3 reps)
    .venv/bin/python bench/ray.py --quick                 # smoke run: 1M rows, 1 rep of each
    .venv/bin/python bench/ray.py --only overhead --overhead-reps 9 --json out.json
    .venv/bin/python bench/ray.py --only scale --rows 3000000 --config 1x2 --config 2x2

1. Overhead: small pipelines (the quickstart, 5 steps with a join; a 3-step CSV -> DuckDB ->
   CSV chain; a 2-step CSV -> Parquet copy) as whole `osiris run` processes, local vs
   `--backend ray` (the local cluster's start and shutdown included), interleaved; medians and
   the difference. Each run's events.jsonl splits the wall time: process start -> run_start,
   compile, set-up up to the first work (for Ray: the cluster start, up to `ray_plan`), steps, finish (Ray: shutdown),
   interpreter exit.
2. Scale: PostgreSQL -> Parquet over the seeded bench table (bench/_common.py, `--rows`),
   local vs `--backend ray --ray-cpus C --partitions P` for each `--config CxP`, interleaved.
   Each output is checked against the local run's file and the table itself (row count,
   sum(id), sum(amount) exact as Decimal, column types); the file writer is one task, so the
   partitions meet in it.

Memory: "osiris RSS" is the osiris process's own peak (the session's run_peak_rss_mb). Ray's
workers, raylet and GCS are other processes: a sampler walks this process's descendants every
--sample-interval seconds and keeps the peak sum of their RSS, of their PSS (shared pages such
as Ray's object store counted once) and of the task workers' RSS (`ray::IDLE`, `ray::run_stage`,
...; not the per-node agents), and their CPU seconds (a process's last sample).
The server's CPU is not in that tree; "machine busy" is the whole machine's, from /proc/stat.

This file is named ray.py: never put bench/ on the path of a process that imports the real
`ray` (the benchmark itself does not; osiris runs in child processes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any


def _load_common():  # noqa: ANN202 - the module object
    """bench/_common.py, loaded by path: putting bench/ on sys.path would let this file shadow the
    real `ray` package in any process that imports both (the smoke test's pytest process)."""
    if "_common" in sys.modules:
        return sys.modules["_common"]
    spec = importlib.util.spec_from_file_location("_common", Path(__file__).resolve().with_name("_common.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_common"] = module
    spec.loader.exec_module(module)
    return module


c = _load_common()

DEFAULT_CONFIGS = ("1x1", "1x2", "2x2", "2x4")
QUICKSTART = c.ROOT / "examples" / "quickstart"
PAGE = os.sysconf("SC_PAGE_SIZE")
SERVER = "postgres"
"""The process name of PostgreSQL's server and backends, whose CPU shares the cores with the run."""
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
"""Per-node helper processes, counted with the cluster (all processes), not with the task workers."""
TICK = os.sysconf("SC_CLK_TCK")


# --- arguments --------------------------------------------------------------------------------


def ray_config(text: str) -> tuple[int, int]:
    """`CxP` -> (cpus, partitions), e.g. 2x4."""
    cpus, sep, parts = text.lower().partition("x")
    if not sep or not cpus.isdigit() or not parts.isdigit() or int(cpus) < 1 or int(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected CPUSxPARTITIONS such as 2x4, got {text!r}")
    return int(cpus), int(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the PostgreSQL table (default 10M)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds of the scale part")
    parser.add_argument("--overhead-reps", type=int, default=5, help="interleaved rounds of the overhead part")
    parser.add_argument("--config", type=ray_config, action="append", metavar="CxP",
                        help=f"a Ray run: --ray-cpus C --partitions P (repeatable; default "
                             f"{' '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--only", choices=("overhead", "scale"), action="append", help="run only this part")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1M rows, one round of each part")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure here")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench",
                        help="generated files, shared with bench/extract.py")
    parser.add_argument("--quiet-load", type=float, default=1.5,
                        help="before each scale round, wait until the 1-min load is below this")
    parser.add_argument("--max-wait", type=float, default=30, help="longest wait for quiet, seconds")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="process-tree sampling period, s")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.rows, args.reps, args.overhead_reps = min(args.rows, 1_000_000), 1, 1
    for name in ("rows", "reps", "overhead_reps"):
        if getattr(args, name) < 1:
            build_parser().error(f"--{name.replace('_', '-')} must be at least 1")
    args.config = args.config or [ray_config(text) for text in DEFAULT_CONFIGS]
    args.only = args.only or ["overhead", "scale"]
    return args


# --- the process tree -------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


@dataclass(frozen=True)
class Proc:
    ppid: int
    name: str
    cpu_s: float
    """User + system CPU seconds so far."""


def processes() -> dict[int, Proc]:
    """Every live process, from /proc/*/stat."""
    table = {}
    for entry in os.listdir("/proc"):
        stat = _read(f"/proc/{entry}/stat") if entry.isdigit() else ""
        if stat:
            rest = stat[stat.rindex(")") + 2:].split()
            table[int(entry)] = Proc(int(rest[1]), stat[stat.index("(") + 1:stat.rindex(")")],
                                     (int(rest[11]) + int(rest[12])) / TICK)
    return table


def descendants(root: int, table: dict[int, Proc]) -> list[int]:
    """Every process below `root` in `table`."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _busy_jiffies() -> tuple[int, int]:
    fields = [int(x) for x in _read("/proc/stat").split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


@dataclass
class TreeSample:
    """Peaks over the descendants of this process while one child ran."""

    rss_mb: float = 0.0
    pss_mb: float = 0.0
    workers_rss_mb: float = 0.0
    cpu_s: float = 0.0
    """CPU seconds of the tree (each process's last sample)."""
    server_cpu_s: float = 0.0
    """CPU seconds of PostgreSQL's processes over the run (sampled the same way)."""
    processes: int = 0
    machine_busy: float = 0.0
    """Share of all the machine's CPUs busy during the run (server and other work included)."""
    leftovers: int = 0
    """Processes of the run still alive after it exited (a cluster left running)."""


class TreeSampler:
    """Sample RSS, PSS and CPU of every process below this one in a thread, while a child runs."""

    def __init__(self, interval: float) -> None:
        self.interval, self.sample = interval, TreeSample()
        self._stop = threading.Event()
        self._cpu: dict[int, float] = {}
        self._workers: dict[int, bool] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._busy0 = _busy_jiffies()
        self._server0 = {pid: p.cpu_s for pid, p in processes().items() if p.name == SERVER}
        self._server = dict(self._server0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._once()  # the server's processes after the run (the tree has exited)
        busy, total = (a - b for a, b in zip(_busy_jiffies(), self._busy0, strict=True))
        self.sample.machine_busy = busy / total if total else 0.0
        self.sample.cpu_s = sum(self._cpu.values())
        self.sample.server_cpu_s = sum(cpu - self._server0.get(pid, 0.0) for pid, cpu in self._server.items())
        self.sample.processes = len(self._cpu)
        self.sample.leftovers = sum(1 for pid in self._cpu if os.path.exists(f"/proc/{pid}"))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._once()

    def _once(self) -> None:
        rss = pss = workers = 0
        table = processes()
        self._server |= {pid: p.cpu_s for pid, p in table.items() if p.name == SERVER}
        for pid in descendants(os.getpid(), table):
            if table[pid].name == "time":  # GNU time's 2 MB
                continue
            self._cpu[pid] = table[pid].cpu_s
            resident = int((_read(f"/proc/{pid}/statm").split() or ["0", "0"])[1]) * PAGE
            rss += resident
            rollup = _read(f"/proc/{pid}/smaps_rollup")
            pss += next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")),
                        resident)
            if not self._workers.get(pid):  # a worker renames itself to ray::... once it has started
                title = _read(f"/proc/{pid}/cmdline").split("\0")[0]
                self._workers[pid] = title.startswith("ray::") and title not in RAY_AGENTS
            workers += resident if self._workers[pid] else 0
        sample = self.sample
        sample.rss_mb = max(sample.rss_mb, rss / 2**20)
        sample.pss_mb = max(sample.pss_mb, pss / 2**20)
        sample.workers_rss_mb = max(sample.workers_rss_mb, workers / 2**20)


# --- one osiris run ---------------------------------------------------------------------------


@dataclass
class Measured:
    label: str
    seconds: float = 0.0
    osiris_rss_mb: float = 0.0
    tree: TreeSample = field(default_factory=TreeSample)
    phases_ms: dict[str, float] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    """Step id -> partitions it ran as (partition_complete events; 1 on the local backend)."""
    task_ms: dict[str, list[float]] = field(default_factory=dict)
    """Step id -> its Ray tasks' durations (partition_complete duration_ms; a fused chain's task
    counts for each of its steps)."""
    rows_written: int = 0
    command: str = ""
    """`osiris run PIPELINE.yaml FLAGS` as run (the temporary paths left out)."""
    error: str | None = None


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def phases(events: list[dict[str, Any]], spawned: float, ended: float, extract_step: str | None = None) -> dict:
    """Where a run's wall time went, in ms, from its events' timestamps (millisecond precision).

    start: process start -> run_start; compile: -> compile_complete; setup: -> first work
    (`ray_plan` on Ray: the cluster start is in here; the first step_start locally); steps:
    -> the last step_complete; finish: -> run_end (Ray's shutdown is in here); exit: -> process end.
    With `extract_step`, `steps` is split into extract (its last partition_complete or
    step_complete) and write (the rest).
    """
    first: dict[str, float] = {}
    for event in events:
        first.setdefault(event["event"], _ts(event))
    done = [_ts(e) for e in events if e["event"] == "step_complete"]
    run_start = first.get("run_start", spawned)
    compiled = first.get("compile_complete", run_start)
    work = first.get("ray_plan", first.get("step_start", compiled))
    run_end = first.get("run_end", ended)
    last = max(done, default=run_end)
    out = {"start": run_start - spawned, "compile": compiled - run_start, "setup": work - compiled,
           "steps": last - work, "finish": run_end - last, "exit": ended - run_end}
    if extract_step:
        marks = [_ts(e) for e in events if e.get("step_id") == extract_step
                 and e["event"] in ("partition_complete", "step_complete")]
        extracted = max(marks, default=last)
        out |= {"extract": extracted - work, "write": last - extracted}
    return {name: round(value * 1000, 1) for name, value in out.items()}


def osiris_run(label: str, pipeline_path: Path, work: Path, extra: list[str], interval: float,
               extract_step: str | None = None) -> Measured:
    """One `osiris run` process: wall time, its own peak RSS, the tree's peaks, the phases."""
    sessions = work / "sessions"
    argv = [c.OSIRIS, "run", str(pipeline_path), "--connections", str(work / "osiris_connections.yaml"),
            "--session-dir", str(sessions), "--json", "--quiet", *extra]
    measured = Measured(label, command=" ".join(["osiris run", pipeline_path.name, *extra]))
    spawned = time.time()
    try:
        with TreeSampler(interval) as sampler:
            result = c.run(argv, cwd=work)
    except SystemExit as failure:  # c.run's report of a non-zero exit: keep benching the rest
        detail = str(failure).partition("\n")[2].strip() or str(failure)
        measured.error = detail[-2000:]
        measured.tree = sampler.sample
        return measured
    ended = time.time()
    measured.seconds, measured.tree = result.seconds, sampler.sample
    status = json.loads(result.stdout)
    session = work / status["session_dir"]
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines() if line.strip()]
    for line in (session / "metrics.jsonl").read_text().splitlines():
        metric = json.loads(line)
        if metric["metric"] == "run_peak_rss_mb":
            measured.osiris_rss_mb = float(metric["value"])
    measured.phases_ms = phases(events, spawned, ended, extract_step)
    for event in events:
        if event["event"] == "partition_complete":
            measured.partitions[event["step_id"]] = measured.partitions.get(event["step_id"], 0) + 1
            measured.task_ms.setdefault(event["step_id"], []).append(float(event.get("duration_ms") or 0))
    measured.rows_written = int(status.get("totals", {}).get("rows_written") or 0)
    if not status.get("ok"):
        measured.error = f"status {status.get('status')}"
    shutil.rmtree(session, ignore_errors=True)
    return measured


def ray_flags(cpus: int | None = None, partitions: int | None = None) -> list[str]:
    flags = ["--backend", "ray"]
    flags += ["--ray-cpus", str(cpus)] if cpus else []
    return flags + (["--partitions", str(partitions)] if partitions else [])


# --- part 1: overhead -------------------------------------------------------------------------


def overhead_pipelines(work: Path) -> dict[str, Path]:
    """The quickstart (copied, its paths made relative to `work`), a 3-step chain, and a CSV ->
    Parquet copy (no SQL step: the Ray coordinator then never loads its SQL classifier)."""
    shutil.copytree(QUICKSTART / "data", work / "data", dirs_exist_ok=True)
    text = (QUICKSTART / "pipeline.yaml").read_text(encoding="utf-8").replace("examples/quickstart/data/", "data/")
    (work / "quickstart.yaml").write_text(text, encoding="utf-8")
    rows = ["id,amount,label"] + [f"{i},{i * 1.5:.2f},label-{i % 7}" for i in range(500)]
    (work / "data" / "small.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    chain = c.pipeline(work, "chain3", [
        ("s01", "filesystem.csv_extractor", "read", {"path": "data/small.csv"}),
        ("s02", "duckdb.processor", "transform",
         {"query": "SELECT id, amount * 1.01 AS amount, label FROM input_df"}),
        ("s03", "filesystem.csv_writer", "write", {"path": "out/chain3.csv"})])
    copy = c.pipeline(work, "copy2", [
        ("read", "filesystem.csv_extractor", "read", {"path": "data/small.csv"}),
        ("write", "filesystem.parquet_writer", "write", {"path": "out/copy2.parquet"})])
    return {"quickstart (5 steps, a join)": work / "quickstart.yaml", "chain (3 steps)": chain,
            "copy (2 steps, no SQL)": copy}


RAY_ALONE = """
import json, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")
t2 = time.perf_counter()
ray.get(ray.remote(lambda: 1).remote())
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "first_task": t3 - t2, "shutdown": t4 - t3}))
"""
"""Ray by itself, as the backend starts it (runtime/ray/cluster.py's options): the floor of the overhead."""


def ray_alone(work: Path) -> dict[str, float]:
    """One RAY_ALONE process: its phases and whole wall time, in ms."""
    result = c.run([c.PYTHON, "-c", RAY_ALONE], cwd=work)
    phases_s = json.loads(result.stdout.strip().splitlines()[-1])
    return {name: round(value * 1000, 1) for name, value in phases_s.items()} | {
        "process": round(result.seconds * 1000, 1)}


def bench_overhead(args: argparse.Namespace,
                   work: Path) -> tuple[dict[str, dict[str, list[Measured]]], list[dict[str, float]]]:
    """Every pipeline on both backends per round, and one Ray-alone process per round."""
    (work / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    c.connections_file(work)
    pipes = overhead_pipelines(work)
    for path in pipes.values():  # warm: bytecode, OS caches, Ray's binaries
        osiris_run("warm", path, work, [], args.sample_interval)
        osiris_run("warm", path, work, ray_flags(), args.sample_interval)
    runs: dict[str, dict[str, list[Measured]]] = {name: {"local": [], "ray": []} for name in pipes}
    alone: list[dict[str, float]] = []
    for rep in range(args.overhead_reps):
        for name, path in pipes.items():
            order = ("local", "ray") if rep % 2 == 0 else ("ray", "local")
            for backend in order:
                flags = ray_flags() if backend == "ray" else []
                measured = osiris_run(backend, path, work, flags, args.sample_interval)
                runs[name][backend].append(measured)
                if measured.error:
                    print(f"FAILED {name}, {backend}: {measured.command}: {measured.error}", file=sys.stderr,
                          flush=True)
        try:
            alone.append(ray_alone(work))
        except SystemExit as failure:  # c.run's report of a failed child
            print(f"FAILED Ray alone: {failure}", file=sys.stderr, flush=True)
    return runs, alone


def report_overhead(runs: dict[str, dict[str, list[Measured]]], reps: int,
                    alone: list[dict[str, float]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    table, split = [], []
    for name, by_backend in runs.items():
        ok = {b: [m for m in ms if not m.error] for b, ms in by_backend.items()}
        errors = [m.error for ms in by_backend.values() for m in ms if m.error]
        if not ok["local"] or not ok["ray"]:
            figures[name] = {"errors": errors}
            shown = [f"{median([m.seconds for m in ok[b]]):.2f}" if ok[b] else "failed" for b in ("local", "ray")]
            table.append([name, *shown, "", "", "", "", ""])
            continue
        med = {b: median([m.seconds for m in ms]) for b, ms in ok.items()}
        paired = median([r.seconds - lo.seconds for lo, r in zip(ok["local"], ok["ray"], strict=False)])
        rss = {b: max(m.osiris_rss_mb for m in ms) for b, ms in ok.items()}
        tree = max(m.tree.pss_mb for m in ok["ray"])
        table.append([name, f"{med['local']:.2f}", f"{med['ray']:.2f}", f"+{med['ray'] - med['local']:.2f}",
                      f"{paired:+.2f}", f"{med['ray'] / med['local']:.1f}x",
                      f"{rss['local']:.0f} / {rss['ray']:.0f} MB", f"{tree:.0f} MB"])
        phase = {b: {k: median([m.phases_ms[k] for m in ms]) for k in ms[0].phases_ms} for b, ms in ok.items()}
        for backend in ("local", "ray"):
            p = phase[backend]
            split.append([f"{name}, {backend}", *(f"{p[k]:,.0f}" for k in PHASES), f"{med[backend] * 1000:,.0f}"])
        figures[name] = {
            "median_s": {b: round(v, 3) for b, v in med.items()},
            "all_s": {b: [round(m.seconds, 3) for m in ms] for b, ms in ok.items()},
            "difference_s": round(med["ray"] - med["local"], 3),
            "paired_difference_median_s": round(paired, 3),
            "osiris_peak_rss_mb": rss, "ray_tree_peak_pss_mb": round(tree, 1),
            "phases_ms_median": phase, "errors": errors,
        }
    c.print_table(["pipeline", "local s", "ray s", "difference s", "paired diff s", "ray / local",
                   "osiris RSS local / ray", "ray: all processes (PSS)"], table,
                  f"### Fixed overhead: `osiris run` local vs `--backend ray` (local cluster), medians of {reps}")
    print_failures({f"{name}, {b}": ms for name, by in runs.items() for b, ms in by.items()})
    if alone:
        floor = {k: median([a[k] for a in alone]) for k in alone[0]}
        figures["ray_alone_ms_median"] = floor
        print(f"\nRay alone (`import ray`, `ray.init` with the backend's options, one trivial task, "
              f"`ray.shutdown`; {len(alone)} processes, medians): import {floor['import']:,.0f} ms, init "
              f"{floor['init']:,.0f} ms, first task {floor['first_task']:,.0f} ms, shutdown "
              f"{floor['shutdown']:,.0f} ms; the whole process {floor['process']:,.0f} ms.")
    c.print_table(["run", *PHASE_TITLES, "process ms"], split,
                  "Where the time goes (medians, ms, from events.jsonl; `setup` on Ray holds the cluster start and "
                  "the plan, `finish` its shutdown)")
    return figures


PHASES = ("start", "compile", "setup", "steps", "finish", "exit")
PHASE_TITLES = ("start -> run_start", "compile", "setup (Ray: cluster start + plan)", "steps",
                "finish (Ray: shutdown)", "exit")


# --- part 2: PostgreSQL -> Parquet at scale ---------------------------------------------------


def ensure_pg_table(args: argparse.Namespace) -> str:
    """The seeded table of `--rows` rows in PostgreSQL only (the same table and completion mark as
    _common.ensure_seeded, which also loads MariaDB: minutes this benchmark does not need)."""
    files = c.ensure_files(args.data_dir, args.rows)
    if not c.pg_sql(f"SELECT 1 FROM pg_database WHERE datname = '{c.DB}'", dsn=c.PG_ADMIN_DSN):
        c.pg_sql(f"CREATE DATABASE {c.DB}", dsn=c.PG_ADMIN_DSN)
    table = c.table_name(args.rows)
    exists = c.pg_sql(f"SELECT to_regclass('public.{table}')")
    if not exists or c.pg_sql(f"SELECT obj_description('public.{table}'::regclass)") != "complete":
        started = time.perf_counter()
        c.pg_sql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({c.PG_COLUMNS})")
        c.run(c.psql_argv("-c", f"\\copy {table} FROM '{files['csv']}' CSV HEADER"))
        c.pg_sql(f"VACUUM ANALYZE {table}")
        c.pg_sql(f"COMMENT ON TABLE {table} IS 'complete'")
        print(f"seeded Postgres {table} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return table


def fingerprint(path: Path) -> dict[str, Any]:
    """What must match across backends: rows, sum(id), sum(amount) as an exact Decimal, types."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    ids, amount = 0, Decimal(0)
    for batch in file.iter_batches(columns=["id", "amount"], batch_size=1 << 20):
        ids += pc.sum(batch.column(0)).as_py() or 0
        total = pc.sum(batch.column(1)).as_py()
        amount += Decimal(str(total)) if total is not None else 0
    return {"rows": file.metadata.num_rows, "id_sum": ids, "amount_sum": str(amount),
            "types": {f.name: str(f.type) for f in file.schema_arrow}}


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    found = [f"{key} {got[key]} != {want[key]}" for key in ("rows", "id_sum", "amount_sum")
             if str(got[key]) != str(want[key])]
    if got["types"] != want["types"]:
        found.append(f"types {got['types']} != {want['types']}")
    return found


def bench_scale(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    table = ensure_pg_table(args)
    count, ids, amount = c.pg_sql(f"SELECT count(*), sum(id), sum(amount) FROM {table}").split("|")
    source = {"rows": int(count), "id_sum": int(ids), "amount_sum": str(Decimal(amount))}
    c.connections_file(work)
    (work / "out").mkdir(exist_ok=True)
    target = work / "out" / "result.parquet"
    pipe = c.pipeline(work, "pg_to_parquet", [
        ("extract", "postgres.extractor", "read", {"table": table}),
        ("write", "filesystem.parquet_writer", "write", {"path": str(target)})])
    configs = {"local": []} | {f"ray {cpus} CPU, {parts} part.": ray_flags(cpus, parts) for cpus, parts in args.config}
    runs: dict[str, list[Measured]] = {label: [] for label in configs}
    checks: dict[str, list[list[str]]] = {label: [] for label in configs}
    reference: dict[str, Any] | None = None
    labels = list(configs)
    for rep in range(args.reps):
        c.wait_for_quiet(args.quiet_load, args.max_wait)
        for label in labels[rep % len(labels):] + labels[:rep % len(labels)]:  # rotate: no fixed position
            target.unlink(missing_ok=True)
            measured = osiris_run(label, pipe, work, configs[label], args.sample_interval, "extract")
            runs[label].append(measured)
            if measured.error:
                print(f"FAILED {label}: {measured.command}: {measured.error}", file=sys.stderr, flush=True)
                continue
            got = fingerprint(target)
            if label == "local" and reference is None:
                reference = got
            wrong = differences(got, {**(reference or got), **source})
            if reference is None:  # the local run failed: check against the table alone
                wrong.append("no local run to compare the column types with")
            checks[label].append(wrong)
            print(f"{label}: {measured.seconds:.1f} s{'; ' + '; '.join(wrong) if wrong else ''}",
                  file=sys.stderr, flush=True)
    target.unlink(missing_ok=True)
    return {"table": table, "source": source, "reference": reference, "runs": runs, "checks": checks}


def report_scale(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[Measured]] = result["runs"]
    ok = {label: [m for m in ms if not m.error] for label, ms in runs.items()}
    med = {label: median([m.seconds for m in ms]) for label, ms in ok.items() if ms}
    local = med.get("local")
    table, split, figures = [], [], {}
    for label, ms in runs.items():
        good = ok[label]
        checks = result["checks"][label]
        verified = "yes" if checks and not any(checks) else ("NO: " + "; ".join(next(w for w in checks if w))
                                                             if any(checks) else "-")
        if not good:
            table.append([label, "failed", "", "", "", "", "", "", "", "", "", verified])
            figures[label] = {"errors": [m.error for m in ms]}
            continue
        parts = max((m.partitions.get("extract", 1) for m in good), default=1)
        tree = {k: max(getattr(m.tree, k) for m in good) for k in ("rss_mb", "pss_mb", "workers_rss_mb")}
        table.append([
            label, f"{med[label]:.1f}", f"{min(m.seconds for m in good):.1f}", f"{args.rows / med[label]:,.0f}",
            f"{local / med[label]:.2f}x" if local else "", f"{max(m.osiris_rss_mb for m in good):.0f} MB",
            f"{tree['workers_rss_mb']:.0f} MB" if label != "local" else "-",
            f"{tree['rss_mb']:.0f} / {tree['pss_mb']:.0f} MB", f"{median([m.tree.cpu_s for m in good]):.1f}",
            f"{median([m.tree.server_cpu_s for m in good]):.1f}", f"{median([m.tree.machine_busy for m in good]):.0%}",
            verified])
        phase = {k: median([m.phases_ms[k] for m in good]) for k in good[0].phases_ms}
        tasks = {step: median([median(m.task_ms[step]) for m in good if m.task_ms.get(step)])
                 for step in ("extract", "write")}
        split.append([label, parts, *(f"{phase[k]:,.0f}" for k in ("start", "compile", "setup", "extract",
                                                                     "write", "finish", "exit")),
                      *("-" if t != t else f"{t:,.0f}" for t in tasks.values())])
        figures[label] = {
            "median_s": round(med[label], 2), "all_s": [round(m.seconds, 2) for m in ms],
            "rows_per_s": round(args.rows / med[label]), "vs_local": round(local / med[label], 3) if local else None,
            "osiris_peak_rss_mb": max(m.osiris_rss_mb for m in good),
            "tree_peak": {k: round(v, 1) for k, v in tree.items()},
            "tree_cpu_s_median": round(median([m.tree.cpu_s for m in good]), 2),
            "server_cpu_s_median": round(median([m.tree.server_cpu_s for m in good]), 2),
            "task_ms_median": {step: None if ms_ != ms_ else ms_ for step, ms_ in tasks.items()},
            "machine_busy_median": round(median([m.tree.machine_busy for m in good]), 3),
            "leftover_processes": max(m.tree.leftovers for m in ms),
            "extract_partitions": parts, "phases_ms_median": phase,
            "checks": checks, "errors": [m.error for m in ms if m.error],
        }
    c.print_table(["backend", "median s", "best s", "rows/s", "speed vs local", "osiris RSS",
                   "Ray task workers RSS (sum)", "all processes RSS / PSS", "CPU s (tree)",
                   "PostgreSQL CPU s (sampled)", "machine busy", "output = local + table"], table,
                  f"### PostgreSQL -> Parquet, {args.rows:,} rows (`{result['table']}`), medians of {args.reps}")
    print_failures(runs)
    c.print_table(["backend", "extract partitions", "start", "compile", "setup (Ray: cluster start + plan)",
                   "extract", "write (after the last extract partition)", "finish (Ray: shutdown)", "exit",
                   "one extract task", "write task"], split,
                  "Where the time goes (medians, ms, from events.jsonl)")
    slopes = scaling(med)
    print()
    for text in slopes.values():
        print(f"- {text}")
    return {"configs": figures, "scaling": slopes, "source": result["source"], "reference": result["reference"]}


def print_failures(runs: dict[str, list[Measured]]) -> None:
    """Each failed configuration's first error, under its table."""
    for label, ms in runs.items():
        failed = [m for m in ms if m.error]
        if failed:
            print(f"\n- **{label} failed** ({len(failed)} of {len(ms)} runs): `{failed[0].command}`: "
                  f"{(failed[0].error or '').strip().splitlines()[-1][-400:]}")


def scaling(med: dict[str, float]) -> dict[str, str]:
    """1 -> 2 CPUs as a speed ratio, at equal partitions and best against best."""
    by = {(int(k.split()[1]), int(k.split()[3])): v for k, v in med.items() if k.startswith("ray ")}
    out = {}
    for (cpus, parts), seconds in sorted(by.items()):
        if cpus == 1 and (2, parts) in by:
            out[f"p{parts}"] = (f"1 -> 2 CPUs at {parts} partition(s): {seconds / by[(2, parts)]:.2f}x "
                                f"({seconds:.1f} s -> {by[(2, parts)]:.1f} s)")
    one = [v for (cpus, _), v in by.items() if cpus == 1]
    two = [v for (cpus, _), v in by.items() if cpus == 2]
    if one and two:
        out["best"] = (f"1 -> 2 CPUs, best configuration of each: {min(one) / min(two):.2f}x "
                       f"({min(one):.1f} s -> {min(two):.1f} s)")
    return out


# --- main -------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _plain(value: Any) -> Any:
    """Dataclasses inside the figures, as JSON."""
    if isinstance(value, Measured | TreeSample):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shown = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    print(f"# bench/ray.py {shown}\n")
    print(f"machine: {c.machine_line()}; PostgreSQL on loopback; Ray's local cluster on the same cores")
    figures: dict[str, Any] = {"argv": shown, "machine_start": c.machine_line(), "rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="osiris-bench-ray-") as tmp:
        if "overhead" in args.only:
            work = Path(tmp) / "overhead"
            work.mkdir()
            runs, alone = bench_overhead(args, work)
            figures["overhead"] = report_overhead(runs, args.overhead_reps, alone)
            figures["overhead_runs"] = _plain(runs)
        if "scale" in args.only:
            work = Path(tmp) / "scale"
            work.mkdir()
            result = bench_scale(args, work)
            figures["scale"] = report_scale(result, args)
            figures["scale_runs"] = _plain(result["runs"])
    figures["machine_end"] = c.machine_line()
    print(f"\nmachine at the end: {figures['machine_end']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    failed = [m for part in ("overhead_runs", "scale_runs") for m in _walk_runs(figures.get(part))]
    return 1 if failed else 0


def _walk_runs(runs: Any) -> list[dict[str, Any]]:
    """The failed runs in `figures[...]_runs` (nested dicts of lists of Measured as dicts)."""
    if isinstance(runs, dict):
        if "label" in runs and "error" in runs:
            return [runs] if runs["error"] else []
        return [m for value in runs.values() for m in _walk_runs(value)]
    if isinstance(runs, list):
        return [m for value in runs for m in _walk_runs(value)]
    return []


if __name__ == "__main__":
    sys.exit(main())
