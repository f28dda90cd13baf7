"""`--backend ray` leaves the same results as the local backend.

Files whose order the pipeline defines (ORDER BY) are byte-identical; other outputs hold the
same multiset of rows with the same types; database targets have identical contents. The
partitioned pipeline below makes every shape run: a source split into row-group ranges, a
row-wise step per partition, GROUP BY and JOIN after a hash exchange, an ORDER BY step in
one task, and file writers fed from many partitions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ray.helpers import REPO, outputs, run_in, step_rows, workspace

pytestmark = pytest.mark.slow

QUICKSTART = "examples/quickstart/pipeline.yaml"


def _same_metric_shape(local, ray) -> None:  # noqa: ANN001
    def names(ran):  # noqa: ANN001, ANN202
        import json

        lines = (ran.outcome.session.dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        return sorted({(m.get("step_id") or "", m["metric"]) for m in map(json.loads, lines)})

    assert names(ray) == names(local)


def test_quickstart_outputs_are_byte_identical(tmp_path, ray_cluster):
    local = run_in(workspace(tmp_path / "local", copy=["examples/quickstart"]), QUICKSTART, backend="local")
    ray = run_in(workspace(tmp_path / "ray", copy=["examples/quickstart"]), QUICKSTART, backend="ray")
    assert local.outcome.exit_code == 0 and ray.outcome.exit_code == 0, ray.status
    assert outputs(ray.work) == outputs(local.work)
    assert len(outputs(local.work)) == 2
    assert step_rows(ray) == step_rows(local)
    _same_metric_shape(local, ray)
    assert {e["step_id"] for e in ray.named("partition_complete")} == set(step_rows(local))


PARTITIONED = """\
oml_version: "0.1.0"
name: partitioned
steps:
  - id: orders
    component: filesystem.parquet_extractor
    config: {path: data/orders.parquet}
  - id: customers
    component: filesystem.parquet_extractor
    config: {path: data/customers.parquet}
  - id: clean
    component: duckdb.processor
    needs: [orders]
    config:
      query: >-
        SELECT id, customer_id, amount * 2 AS doubled, upper(status) AS status, ts, note
        FROM orders WHERE amount > 10 OR amount IS NULL
  - id: per-customer
    component: duckdb.processor
    needs: [clean]
    config:
      query: >-
        SELECT customer_id, count(*) AS n, sum(doubled) AS total, max(ts) AS last_ts
        FROM clean GROUP BY customer_id
  - id: joined
    component: duckdb.processor
    inputs: {per: "${per-customer.df}", customers: "${customers.df}"}
    config:
      query: >-
        SELECT c.country, p.customer_id, p.n, p.total
        FROM per AS p JOIN customers AS c ON c.id = p.customer_id
  - id: by-country
    component: duckdb.processor
    needs: [joined]
    config:
      query: >-
        SELECT country, sum(n) AS orders, sum(total) AS total
        FROM joined GROUP BY country ORDER BY country
  - id: write-clean
    component: filesystem.parquet_writer
    needs: [clean]
    config: {path: out/clean.parquet}
  - id: write-joined
    component: filesystem.csv_writer
    needs: [joined]
    config: {path: out/joined.csv}
  - id: write-country
    component: filesystem.parquet_writer
    needs: [by-country]
    config: {path: out/by_country.parquet}
"""


def _data() -> dict[str, bytes]:
    rows = 12_000
    ids = list(range(rows))
    orders = pa.table({
        "id": pa.array(ids, pa.int64()),
        "customer_id": pa.array([None if i % 97 == 0 else i % 301 for i in ids], pa.int32()),
        "amount": pa.array([None if i % 89 == 0 else Decimal(i % 500) / 4 for i in ids], pa.decimal128(12, 2)),
        "status": pa.array([("paid", "open", "void")[i % 3] for i in ids]),
        "ts": pa.array([1_700_000_000_000_000 + i * 7_919_000 for i in ids], pa.timestamp("us", tz="UTC")),
        "note": pa.array([None if i % 5 else f"n{i}" for i in ids]),
    })
    customers = pa.table({
        "id": pa.array(range(0, 301), pa.int64()),
        "country": pa.array([("DE", "FR", "US", "JP", None)[i % 5] for i in range(301)]),
    })
    sink_o, sink_c = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(orders, sink_o, row_group_size=1_000)
    pq.write_table(customers, sink_c, row_group_size=50)
    return {"data/orders.parquet": sink_o.getvalue().to_pybytes(),
            "data/customers.parquet": sink_c.getvalue().to_pybytes()}


def _rows(path: Path) -> list[tuple]:
    if path.suffix == ".csv":
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(path)
    else:
        table = pq.read_table(path)
    return sorted(tuple(r.values()) for r in table.to_pylist()), table.schema


def test_partitioned_pipeline_leaves_the_same_rows(tmp_path, ray_cluster):
    files = {"pipeline.yaml": PARTITIONED, **_data()}
    local = run_in(workspace(tmp_path / "local", files), "pipeline.yaml", backend="local")
    ray = run_in(workspace(tmp_path / "ray", files), "pipeline.yaml", backend="ray", partitions=3)
    assert local.outcome.exit_code == 0, local.status
    assert ray.outcome.exit_code == 0, ray.status
    assert step_rows(ray) == step_rows(local)
    mine, theirs = outputs(ray.work), outputs(local.work)
    assert mine["out/by_country.parquet"] == theirs["out/by_country.parquet"]  # ORDER BY: the same bytes
    for name in ("out/clean.parquet", "out/joined.csv"):
        assert _rows(ray.work / name) == _rows(local.work / name), name  # the same multiset and types
    shapes = {sid: stage["shape"] for stage in ray.named("ray_plan")[0]["stages"] for sid in stage["steps"]}
    assert shapes["orders"] == "source"
    assert shapes["clean"] == "source"  # row-wise: fused into the source's stage
    assert shapes["per-customer"] == "hash" and shapes["joined"] == "hash" and shapes["by-country"] == "single"
    partitions = {e["partition"] for e in ray.named("partition_complete") if e["step_id"] == "orders"}
    assert partitions == {0, 1, 2}  # 12 row groups split three ways
    assert {e["partition"] for e in ray.named("partition_complete") if e["step_id"] == "per-customer"} == {0, 1, 2}
    _same_metric_shape(local, ray)


FAILING = """\
oml_version: "0.1.0"
name: failing
steps:
  - id: orders
    component: filesystem.parquet_extractor
    config: {path: data/orders.parquet}
  - id: broken
    component: duckdb.processor
    needs: [orders]
    config: {query: SELECT no_such_column FROM input_df}
  - id: write
    component: filesystem.csv_writer
    needs: [broken]
    config: {path: out/never.csv}
  - id: fine
    component: filesystem.csv_writer
    needs: [orders]
    config: {path: out/fine.csv}
"""


def test_a_failing_step_fails_alike(tmp_path, ray_cluster):
    files = {"pipeline.yaml": FAILING, **_data()}
    local = run_in(workspace(tmp_path / "local", files), "pipeline.yaml", backend="local")
    ray = run_in(workspace(tmp_path / "ray", files), "pipeline.yaml", backend="ray")
    assert local.outcome.exit_code == ray.outcome.exit_code == 1
    assert step_rows(ray)["broken"][0] == step_rows(local)["broken"][0] == "failed"
    assert step_rows(ray)["write"][0] == step_rows(local)["write"][0] == "skipped"
    assert step_rows(ray)["fine"] == step_rows(local)["fine"]
    ray_error, local_error = ray.named("step_error")[0], local.named("step_error")[0]
    assert ray_error["message"] == local_error["message"]
    assert ray_error["source"] == local_error["source"] == "pipeline.yaml:7:5"
    assert not (ray.work / "out" / "never.csv").exists()
    assert outputs(ray.work) == outputs(local.work)


@pytest.mark.mysql
@pytest.mark.postgres
def test_mysql_to_postgres_example_leaves_identical_tables(tmp_path, mysql_db, postgres_db):
    import psycopg
    import pymysql
    from pymysql.constants import CLIENT

    example = REPO / "examples" / "mysql_to_postgres"
    conn = pymysql.connect(**mysql_db, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    with conn.cursor() as cur:
        cur.execute((example / "seed.sql").read_text(encoding="utf-8"))
        while cur.nextset():
            pass
    conn.close()
    env = {**os.environ, "MYSQL_DATABASE": mysql_db["database"], "PG_DATABASE": postgres_db["database"],
           "CI": os.environ.get("CI", "")}
    env.pop("MYSQL_PASSWORD", None), env.pop("PG_PASSWORD", None)

    def tables() -> dict[str, list[tuple]]:
        with psycopg.connect(postgres_db["dsn"]) as pg:
            found = {}
            for table in ("director_stats", "movies"):
                columns = pg.execute(
                    "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable "
                    "FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", (table,),
                ).fetchall()
                found[table] = [tuple(columns), *pg.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()]
            leftovers = pg.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_osiris_stage_%'").fetchone()
            found["staging tables left"] = [leftovers]
            return found

    def reset() -> None:
        with psycopg.connect(postgres_db["dsn"], autocommit=True) as pg:
            pg.execute("DROP TABLE IF EXISTS director_stats, movies")

    seen = {}
    for backend in ("local", "ray"):
        work = workspace(tmp_path / backend, copy=["examples/mysql_to_postgres"])
        reset()
        command = [sys.executable, "-m", "osiris.cli.osiris", "run", "examples/mysql_to_postgres/pipeline.yaml",
                   "--connections", "examples/mysql_to_postgres/osiris_connections.yaml", "--quiet"]
        if backend == "ray":
            command += ["--backend", "ray", "--partitions", "2", "--ray-cpus", "2"]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        seen[backend] = tables()
    assert seen["ray"] == seen["local"]
    assert len(seen["local"]["movies"]) == 16 and seen["local"]["staging tables left"] == [(0,)]


def test_a_compiled_manifest_runs_on_ray_as_it_does_locally(tmp_path, ray_cluster):
    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.ray.executor import RayExecutor, RayOptions
    from osiris.runtime.run import RunRequest, run

    files = {"pipeline.yaml": PARTITIONED, **_data()}
    results = {}
    for backend in ("local", "ray"):
        work = workspace(tmp_path / backend, files)
        compiled = subprocess.run([sys.executable, "-m", "osiris.cli.omlc", "compile", "pipeline.yaml", "--out",
                                   "build"], cwd=work, capture_output=True, text=True, timeout=120)
        assert compiled.returncode == 0, compiled.stderr
        executor = RayExecutor(RayOptions(partitions=2)) if backend == "ray" else None
        outcome = run(RunRequest(manifest_dir=Path("build"), session_root=work / ".osiris" / "sessions",
                                 work_dir=work, exec_options=ExecOptions(work_dir=work)), executor=executor)
        assert outcome.exit_code == 0, outcome.status
        results[backend] = work
    assert outputs(results["ray"])["out/by_country.parquet"] == outputs(results["local"])["out/by_country.parquet"]
    assert _rows(results["ray"] / "out/clean.parquet") == _rows(results["local"] / "out/clean.parquet")
