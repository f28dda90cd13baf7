"""How the Ray backend cuts a manifest into stages (runtime/ray/plan.py), from compiled pipelines.

A stage is a chain run inside one task per partition: a step, then row-wise (`local`) or staged
steps, each the only consumer of the step before it and waiting on nothing else. The SQL
classification is stubbed here (tests/runtime/test_sql_scope_classification.py covers it): a
query mentioning GROUP BY is `hash` on `k`, ORDER BY is `single`, anything else `local`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from osiris.compiler.api import CompileOptions, compile_text
from osiris.runtime.ray.plan import Capabilities, plan_stages, sql_names


@dataclass
class _Scope:
    kind: str
    keys: dict
    reason: str


def _classify(sql, names, scope, by):  # noqa: ANN001, ANN202
    if scope:
        return _Scope(scope, {n: tuple(by or ()) for n in names}, "set by the step")
    if "ORDER BY" in sql:
        return _Scope("single", {}, "ORDER BY")
    if "GROUP BY" in sql:
        return _Scope("hash", {n: ("k",) for n in names}, "GROUP BY k")
    return _Scope("local", {}, "row-wise")


def _can(component: str) -> Capabilities:
    return Capabilities(partitioned_extract=component == "filesystem.parquet_extractor",
                        staged_write=component == "postgres.writer")


def _plan(steps: str):  # noqa: ANN202
    text = f'oml_version: "0.1.0"\nname: p\nsteps:\n{steps}'
    connections = "version: 1\nconnections:\n  postgres:\n    db: {host: 127.0.0.1, database: x, user: u}\n"
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    (folder / "c.yaml").write_text(connections, encoding="utf-8")
    result = compile_text(text, "p.yaml", CompileOptions(connections=folder / "c.yaml", cwd=folder))
    assert result.ok, [d.message for d in result.diagnostics]
    compiled = result.compiled
    return plan_stages(compiled.manifest, compiled.cfgs, _can, _classify)


SRC = """  - id: src
    component: filesystem.parquet_extractor
    config: {path: a.parquet}
"""


def _sql(step_id: str, needs: str, query: str) -> str:
    return f"""  - id: {step_id}
    component: duckdb.processor
    needs: [{needs}]
    config: {{query: "{query}"}}
"""


def _pg(step_id: str, needs: str) -> str:
    return f"""  - id: {step_id}
    component: postgres.writer
    needs: [{needs}]
    config: {{connection: "@postgres.db", table: t}}
"""


def test_a_row_wise_chain_and_its_staged_writer_run_in_one_task_per_partition():
    plan = _plan(SRC + _sql("clean", "src", "SELECT a FROM input_df") + _pg("load", "clean"))
    assert [(s.steps, s.shape) for s in plan.stages] == [(["src", "clean", "load"], "source")]


def test_a_step_with_two_consumers_ends_its_stage():
    plan = _plan(SRC + _sql("a", "src", "SELECT x FROM input_df") + _sql("b", "src", "SELECT y FROM input_df"))
    assert [(s.steps, s.shape) for s in plan.stages] == [(["src"], "source"), (["a"], "local"), (["b"], "local")]


def test_group_by_starts_a_hash_stage_that_row_wise_steps_join():
    plan = _plan(SRC + _sql("agg", "src", "SELECT k, count(*) AS n FROM input_df GROUP BY k")
                 + _sql("tidy", "agg", "SELECT k, n FROM input_df") + _pg("load", "tidy"))
    assert [(s.steps, s.shape) for s in plan.stages] == [(["src"], "source"), (["agg", "tidy", "load"], "hash")]
    assert plan.shapes["agg"].keys == {"src": ("k",)}


def test_order_by_runs_once_and_a_file_writer_is_a_single_writer():
    plan = _plan(SRC + _sql("top", "src", "SELECT a FROM input_df ORDER BY a") + """  - id: out
    component: filesystem.parquet_writer
    needs: [top]
    config: {path: out.parquet}
""")
    shapes = {sid: plan.shapes[sid].shape for sid in ("src", "top", "out")}
    assert shapes == {"src": "source", "top": "single", "out": "single"}
    assert [s.steps for s in plan.stages] == [["src"], ["top"], ["out"]]


def test_a_step_that_also_waits_for_another_step_starts_its_own_stage():
    other = SRC.replace("id: src", "id: other").replace("a.parquet", "b.parquet")
    plan = _plan(SRC + other + """  - id: clean
    component: duckdb.processor
    inputs: {src: "${src.df}"}
    needs: [other]
    config: {query: "SELECT a FROM src"}
""")
    assert plan.stage_of("clean").steps == ["clean"]


@pytest.mark.parametrize(("inputs", "names"), [
    (["a"], {"a": "a", "df_a": "a", "input_df": "a"}),
    (["x-y", "z"], {"x-y": "x-y", "z": "z", "df_x_y": "x-y", "df_z": "z"}),
])
def test_sql_names_follow_the_duckdb_processor(inputs, names):
    from types import SimpleNamespace

    from osiris.drivers.duckdb_sql.processor import table_names

    assert sql_names(inputs) == names
    assert sql_names(inputs) == table_names({n: SimpleNamespace(name=n) for n in inputs})
