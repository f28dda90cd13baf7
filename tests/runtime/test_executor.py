"""The local executor on real drivers (CSV, Parquet, DuckDB) and on test doubles."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq

from tests.runtime.conftest import events_of, validate_session
from tests.runtime.doubles import Sink


def _orders_csv(path, rows: int = 50) -> None:  # noqa: ANN001
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "country", "total"])
        for i in range(rows):
            writer.writerow([i, ["CZ", "DE", "US"][i % 3], f"{i * 1.5:.1f}"])


CSV_DUCKDB_PARQUET = """
oml_version: "0.1.0"
name: csv-duckdb-parquet
params:
  min_total: {type: number, default: 0}
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: by-country
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config:
      query: >-
        SELECT country, count(*) AS n, sum(total) AS total FROM input_df
        WHERE total >= ${params.min_total} GROUP BY country ORDER BY country
  - id: write-parquet
    component: filesystem.parquet_writer
    mode: write
    needs: [by-country]
    config: {path: out/by_country.parquet}
  - id: write-csv
    component: filesystem.csv_writer
    mode: write
    needs: [by-country]
    config: {path: out/by_country.csv}
"""


def test_csv_duckdb_parquet_and_csv_fan_out(run_oml, tmp_path):
    (tmp_path / "data").mkdir()
    _orders_csv(tmp_path / "data" / "orders.csv", 60)
    outcome = run_oml(CSV_DUCKDB_PARQUET, params={"min_total": "3"})
    assert outcome.exit_code == 0, outcome.status
    table = pq.read_table(tmp_path / "out" / "by_country.parquet")
    assert table.column("country").to_pylist() == ["CZ", "DE", "US"]
    assert sum(table.column("n").to_pylist()) == 58  # totals 0.0 and 1.5 are below 3
    lines = (tmp_path / "out" / "by_country.csv").read_text().splitlines()
    assert lines[0] == "country,n,total" and len(lines) == 4
    status = outcome.status
    assert status["ok"] is True and status["status"] == "succeeded"
    assert status["totals"]["rows_written"] == 6 and status["totals"]["rows_read"] == 60
    assert status["steps"]["by-country"]["rows_read"] == 60
    assert {o["target"] for o in status["outputs"]} == {"out/by_country.parquet", "out/by_country.csv"}
    validate_session(outcome.session.dir)
    starts = {e["step_id"]: e for e in events_of(outcome, "step_start")}
    assert starts["write-csv"]["inputs"]["by-country"]["streaming"] is True
    assert starts["by-country"]["inputs"]["extract-orders"]["streaming"] is False


def test_multi_input_duckdb_join_from_csv_and_parquet(run_oml, tmp_path):
    (tmp_path / "data").mkdir()
    _orders_csv(tmp_path / "data" / "orders.csv", 30)
    import pyarrow as pa

    pq.write_table(
        pa.table({"code": ["CZ", "DE", "US"], "name": ["Czechia", "Germany", "United States"]}),
        tmp_path / "data" / "countries.parquet",
    )
    text = """
oml_version: "0.1.0"
name: join
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: countries
    component: filesystem.parquet_extractor
    mode: read
    config: {path: data/countries.parquet}
  - id: joined
    component: duckdb.processor
    mode: transform
    inputs: {o: "${orders.df}", c: "${countries.df}"}
    config:
      query: >-
        SELECT c.name, count(*) AS n FROM o JOIN df_countries AS c ON c.code = o.country
        GROUP BY c.name ORDER BY c.name
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [joined]
    config: {path: out/joined.parquet}
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0, outcome.status
    table = pq.read_table(tmp_path / "out" / "joined.parquet")
    assert table.to_pydict() == {"name": ["Czechia", "Germany", "United States"], "n": [10, 10, 10]}
    validate_session(outcome.session.dir)


def test_fan_out_one_extractor_to_streaming_writers_and_a_transform(run_oml, tmp_path):
    text = """
oml_version: "0.1.0"
name: fan-out
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 25000, batch_rows: 1000}
  - id: sink-a
    component: test.sink
    mode: write
    needs: [gen]
  - id: sink-b
    component: test.sink
    mode: write
    needs: [gen]
  - id: evens
    component: duckdb.processor
    mode: transform
    needs: [gen]
    config: {query: "SELECT * FROM gen WHERE id % 2 = 0"}
  - id: write-evens
    component: filesystem.parquet_writer
    mode: write
    needs: [evens]
    config: {path: out/evens.parquet}
"""
    outcome = run_oml(text, channel_capacity=2)
    assert outcome.exit_code == 0, outcome.status
    assert Sink.seen["sink-a"] == Sink.seen["sink-b"] == 25000
    assert pq.read_metadata(tmp_path / "out" / "evens.parquet").num_rows == 12500
    assert outcome.status["totals"]["rows_written"] == 25000 * 2 + 12500
    validate_session(outcome.session.dir)


def test_independent_branches_run_concurrently_and_steps_report_metrics(run_oml):
    text = """
oml_version: "0.1.0"
name: two-branches
steps:
  - id: gen-a
    component: test.generator
    mode: read
    config: {rows: 3000, batch_rows: 100, sleep_ms: 2}
  - id: gen-b
    component: test.generator
    mode: read
    config: {rows: 3000, batch_rows: 100, sleep_ms: 2}
  - id: sink-a
    component: test.sink
    mode: write
    needs: [gen-a]
  - id: sink-b
    component: test.sink
    mode: write
    needs: [gen-b]
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0
    events = events_of(outcome)
    order = [(e["event"], e.get("step_id")) for e in events]
    # Both generators started before either finished: they ran at the same time.
    first_complete = min(i for i, (name, _) in enumerate(order) if name == "step_complete")
    started = {step for name, step in order[:first_complete] if name == "step_start"}
    assert {"gen-a", "gen-b"} <= started
    from tests.runtime.conftest import read_jsonl

    metrics = read_jsonl(outcome.session.dir / "metrics.jsonl")
    step_ids = {"gen-a", "gen-b", "sink-a", "sink-b"}
    assert all(not any(s in m["metric"] for s in step_ids) for m in metrics)
    written = {m["step_id"]: m["value"] for m in metrics if m["metric"] == "rows_written"}
    assert written == {"sink-a": 3000, "sink-b": 3000}
    assert {m["step_id"] for m in metrics if m["metric"] == "peak_rss_mb"} == step_ids
    validate_session(outcome.session.dir)


def test_ordering_only_needs_waits_for_the_writer(run_oml, tmp_path):
    text = """
oml_version: "0.1.0"
name: ordering
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 10}
  - id: first
    component: filesystem.csv_writer
    mode: write
    needs: [gen]
    config: {path: out/first.csv}
  - id: second-read
    component: filesystem.csv_extractor
    mode: read
    needs: [first]
    config: {path: out/first.csv}
  - id: second
    component: test.sink
    mode: write
    needs: [second-read]
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0, outcome.status
    assert Sink.seen["second"] == 10


def test_empty_stream_still_writes_a_file_with_the_schema(run_oml, tmp_path):
    text = """
oml_version: "0.1.0"
name: empty
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 0}
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [gen]
    config: {path: out/empty.parquet}
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0, outcome.status
    table = pq.read_table(tmp_path / "out" / "empty.parquet")
    assert table.num_rows == 0 and table.column_names == ["id", "value", "text"]
    assert outcome.status["totals"]["rows_written"] == 0 and outcome.status["ok"] is True


def test_spill_files_are_removed_unless_kept(run_oml):
    text = """
oml_version: "0.1.0"
name: spill
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 100}
  - id: t
    component: duckdb.processor
    mode: transform
    needs: [gen]
    config: {query: "SELECT count(*) AS n FROM input_df"}
  - id: sink
    component: test.sink
    mode: write
    needs: [t]
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0
    assert not (outcome.session.dir / "tmp").exists()
    kept = run_oml(text, keep_spill=True)
    spills = list((kept.session.dir / "tmp" / "spill").glob("*.arrow"))
    assert len(spills) == 1


def test_run_manifest_copies_it_into_the_session(tmp_path):
    from osiris.runtime.registry import DriverRegistry
    from osiris.runtime.run import RunRequest, run
    from tests.runtime.conftest import compile_to
    from tests.runtime.doubles import OVERRIDES, spec_registry

    compiled = compile_to(
        """
oml_version: "0.1.0"
name: from-manifest
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 42}
  - id: sink
    component: test.sink
    mode: write
    needs: [gen]
""",
        tmp_path,
    )
    outcome = run(
        RunRequest(manifest_dir=compiled, session_root=tmp_path / "s", work_dir=tmp_path),
        registry=DriverRegistry(OVERRIDES),
        spec_registry=spec_registry(),  # the manifest is verified against the specs of its components
    )
    assert outcome.exit_code == 0
    assert (outcome.session.dir / "compiled" / "manifest.yaml").read_bytes() == (
        compiled / "manifest.yaml"
    ).read_bytes()
    assert outcome.status["totals"]["rows_written"] == 42
    assert [e["event"] for e in events_of(outcome)][:2] == ["run_start", "manifest_loaded"]
    validate_session(outcome.session.dir)


def test_writer_waiting_for_a_sibling_writer_does_not_deadlock(run_oml, tmp_path):
    """w2 streams from gen but must wait for w1, which also reads gen: w2's input is spilled."""
    text = """
oml_version: "0.1.0"
name: sibling-order
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 50000, batch_rows: 500}
  - id: w1
    component: filesystem.parquet_writer
    mode: write
    needs: [gen]
    config: {path: out/w1.parquet}
  - id: w2
    component: test.sink
    mode: write
    needs: [gen, w1]
"""
    outcome = run_oml(text, channel_capacity=1)
    assert outcome.exit_code == 0, outcome.status
    assert Sink.seen["w2"] == 50000
    starts = {e["step_id"]: e for e in events_of(outcome, "step_start")}
    assert starts["w2"]["inputs"]["gen"]["streaming"] is False
    assert starts["w1"]["inputs"]["gen"]["streaming"] is True


def test_transform_over_an_empty_input(run_oml, tmp_path):
    text = """
oml_version: "0.1.0"
name: empty-transform
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 0}
  - id: t
    component: duckdb.processor
    mode: transform
    needs: [gen]
    config: {query: "SELECT count(*) AS n, max(id) AS top FROM input_df"}
  - id: w
    component: filesystem.csv_writer
    mode: write
    needs: [t]
    config: {path: out/t.csv}
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0, outcome.status
    assert (tmp_path / "out" / "t.csv").read_text().splitlines() == ["n,top", "0,"]


class _RefEcho:
    """Extractor double: one row holding the reference of the connection it was given."""

    def extract(self, ctx):  # noqa: ANN001, ANN201
        import pyarrow as pa

        ref = ctx.connection.ref if ctx.connection is not None else "none"
        return pa.table({"ref": [ref], "user": [ctx.connection.get("user") if ctx.connection else None]}).to_reader()


def test_null_connection_resolves_the_family_default_at_run_time(tmp_path):
    from osiris.runtime.registry import DriverRegistry
    from osiris.runtime.run import RunRequest, run
    from tests.runtime.conftest import compile_to

    compiled = compile_to(
        """
oml_version: "0.1.0"
name: default-alias
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config: {query: "SELECT 1"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [extract]
    config: {path: out/ref.csv}
""",
        tmp_path,
    )
    assert '"connection"' not in (compiled / "cfg.json").read_text()
    (tmp_path / "osiris_connections.yaml").write_text("""
version: 1
connections:
  mysql:
    other: {database: d, user: nobody}
    main: {database: d, user: "${OSIRIS_TEST_USER:-fallback}", default: true}
""")
    outcome = run(
        RunRequest(manifest_dir=compiled, session_root=tmp_path / "s", work_dir=tmp_path, env={}),
        registry=DriverRegistry({"mysql.extractor": _RefEcho}),
    )
    assert outcome.exit_code == 0, outcome.status
    assert (tmp_path / "out" / "ref.csv").read_text().splitlines()[1] == '"@mysql.main","fallback"'
