"""The Ray backend's SQL classifier: which scope a DuckDB query may run at, and that local/hash
scopes give the same rows as running the query once on everything (real DuckDB)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.runtime.ray.exchange import split_by_hash
from osiris.runtime.ray.scope import classify

ROOT = Path(__file__).resolve().parents[2]

# sql, inputs, kind, keys, reason fragment
CASES = [
    ("SELECT a, b * 2 AS c FROM input_df WHERE a > 1", ["input_df"], "local", {}, "row by row"),
    ("SELECT CASE WHEN a > 1 THEN 'x' END, upper(s) FROM t", ["t"], "local", {}, "row by row"),
    ("SELECT k, count(*) FROM t GROUP BY k", ["t"], "hash", {"t": ("k",)}, "GROUP BY k"),
    ("SELECT k, s, sum(a) FROM t GROUP BY k, s HAVING sum(a) > 1", ["t"], "hash", {"t": ("k",)}, "GROUP BY"),
    ("SELECT count(*) FROM t", ["t"], "single", {}, "aggregate without GROUP BY"),
    (
        "SELECT o.k, sum(o.a) FROM o JOIN c ON c.k = o.k GROUP BY o.k",
        ["o", "c"],
        "hash",
        {"o": ("k",), "c": ("k",)},
        "GROUP BY k",
    ),
    ("SELECT * FROM o JOIN c USING (k)", ["o", "c"], "hash", {"o": ("k",), "c": ("k",)}, "JOIN on k"),
    ("SELECT c.k, count(*) FROM o LEFT JOIN c ON c.k = o.k GROUP BY c.k", ["o", "c"], "single", {}, "no key"),
    ("SELECT * FROM o JOIN c ON o.a < c.a", ["o", "c"], "single", {}, "no column equality"),
    ("SELECT * FROM o CROSS JOIN c", ["o", "c"], "single", {}, "CROSS"),
    ("SELECT k, row_number() OVER (PARTITION BY k ORDER BY a) FROM t", ["t"], "hash", {"t": ("k",)}, "PARTITION BY"),
    ("SELECT k, row_number() OVER (ORDER BY a) FROM t", ["t"], "single", {}, "window without PARTITION BY"),
    ("SELECT k, sum(a) OVER (PARTITION BY k) AS s FROM t", ["t"], "hash", {"t": ("k",)}, "PARTITION BY k"),
    ("SELECT sum(a) OVER () FROM t", ["t"], "single", {}, "window without PARTITION BY"),
    ("SELECT * FROM t ASOF JOIN u ON t.k = u.k AND t.a >= u.b", ["t", "u"], "single", {}, "ASOF"),
    ("SELECT * FROM t, u WHERE t.k = u.k", ["t", "u"], "single", {}, "no column equality"),
    ("SELECT k, count(*) FROM t GROUP BY ROLLUP (k)", ["t"], "single", {}, ""),
    ("SELECT * FROM t JOIN t AS t2 ON t.k = t2.a", ["t"], "single", {}, "no key"),
    ("SELECT DISTINCT k, a FROM t", ["t"], "hash", {"t": ("k",)}, "DISTINCT"),
    ("SELECT DISTINCT ON (k) k, a FROM t", ["t"], "single", {}, "DISTINCT ON"),
    ("SELECT a FROM t ORDER BY a", ["t"], "single", {}, "ORDER BY"),
    ("SELECT a FROM t LIMIT 3", ["t"], "single", {}, "LIMIT"),
    ("SELECT a FROM t UNION ALL SELECT a FROM u", ["t", "u"], "single", {}, "set operation"),
    ("SELECT a FROM t WHERE a IN (SELECT a FROM u)", ["t", "u"], "single", {}, "subquer"),
    ("WITH x AS (SELECT k FROM t) SELECT * FROM x", ["t"], "single", {}, "CTE"),
    ("SELECT random() AS r FROM t", ["t"], "single", {}, "differs between tasks"),
    ("SELECT histogram(a) FROM t", ["t"], "single", {}, "aggregate function"),
    ("SELECT a FROM t USING SAMPLE 10%", ["t"], "single", {}, "SAMPLE"),
    ("SELECT a FROM other", ["t"], "single", {}, "not an input"),
    ("SELECT a FROM read_csv('x.csv')", ["t"], "single", {}, "not an input"),
    ("SELECT upper(s) AS k, count(*) FROM t GROUP BY k", ["t"], "single", {}, "no key"),
    ("SELEC garbage", ["t"], "single", {}, ""),
    ("SELECT 1; SELECT 2", ["t"], "single", {}, "single statement"),
]


@pytest.mark.parametrize(("sql", "inputs", "kind", "keys", "reason"), CASES)
def test_classify_table(sql: str, inputs: list[str], kind: str, keys: dict, reason: str) -> None:
    scope = classify(sql, inputs)
    assert (scope.kind, dict(scope.keys)) == (kind, keys), scope
    assert reason.lower() in scope.reason.lower()


def _example_queries() -> list[tuple[str, list[str]]]:
    out = []
    for path in ("examples/quickstart/pipeline.yaml", "examples/mysql_to_postgres/pipeline.yaml"):
        doc = yaml.safe_load((ROOT / path).read_text())
        for step in doc["steps"]:
            if step["component"] == "duckdb.processor":
                query = re.sub(r"\$\{params\.\w+\}", "2", step["config"]["query"])  # as the compiler fills it in
                out.append((query, list(step["inputs"])))
    return out


@pytest.mark.parametrize(("sql", "inputs"), _example_queries())
def test_example_pipelines_are_single_because_of_order_by(sql: str, inputs: list[str]) -> None:
    scope = classify(sql, inputs)
    assert scope.kind == "single"
    assert "ORDER BY" in scope.reason


def test_the_steps_choice_wins() -> None:
    assert classify("SELECT count(*) FROM t", ["t"], override="local").kind == "local"
    assert "set by the step" in classify("SELECT count(*) FROM t", ["t"], override="local").reason
    assert classify("SELECT k, count(*) FROM t GROUP BY k", ["t"], override="single").kind == "single"
    scope = classify("SELECT * FROM a JOIN b USING (x)", ["a", "b"], override="hash", by=["id"])
    assert (scope.kind, dict(scope.keys)) == ("hash", {"a": ("id",), "b": ("id",)})
    assert classify("SELECT k, count(*) FROM t GROUP BY k", ["t"], override="hash").keys == {"t": ("k",)}
    assert classify("SELECT a FROM t ORDER BY a", ["t"], override="hash").kind == "single"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_classify_never_raises(text: str) -> None:
    assert classify(text, ["t", "input_df"]).kind in ("local", "hash", "single")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "SELECT",
                "FROM",
                "t",
                "k",
                "a",
                ",",
                "(",
                ")",
                "count(*)",
                "GROUP BY",
                "JOIN",
                "u",
                "ON",
                "=",
                "t.k",
                "u.k",
                "OVER",
                "PARTITION BY",
                "*",
                "WHERE",
            ]
        ),
        max_size=14,
    )
)
def test_classify_never_raises_on_sql_like_tokens(tokens: list[str]) -> None:
    assert classify(" ".join(tokens), ["t", "u"]).kind in ("local", "hash", "single")


# --- the key property: per partition / per bucket == once on everything --------------------------

LOCAL_QUERIES = [
    "SELECT k, a * 2 AS a2, upper(s) AS s FROM t WHERE a > 0",
    "SELECT CASE WHEN a IS NULL THEN -1 ELSE a END AS a, coalesce(s, 'none') AS s FROM t",
]
HASH_QUERIES = [
    "SELECT k, count(*) AS n, sum(a) AS total, count(DISTINCT s) AS d FROM t GROUP BY k",
    "SELECT k, s, max(a) AS m FROM t GROUP BY k, s HAVING count(*) > 1",
    "SELECT k, a, row_number() OVER (PARTITION BY k ORDER BY a, s) AS r FROM t",
    "SELECT DISTINCT k, s FROM t",
    "SELECT t.k, t.a, u.b FROM t JOIN u ON u.k = t.k",
    "SELECT t.k, count(u.b) AS n FROM t LEFT JOIN u ON t.k = u.k GROUP BY t.k",
    "SELECT * FROM t FULL JOIN u USING (k)",
    "SELECT k, a, sum(a) OVER (PARTITION BY k) AS s, lag(a) OVER (PARTITION BY k ORDER BY a, s) AS p FROM t",
]

rows_t = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-3, 3)),
        st.one_of(st.none(), st.integers(-5, 5)),
        st.sampled_from([None, "x", "y", "z"]),
    ),
    max_size=30,
)
rows_u = st.lists(st.tuples(st.one_of(st.none(), st.integers(-3, 3)), st.integers(0, 9)), max_size=20)


def _t(rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.int32()),
            "a": pa.array([r[1] for r in rows], pa.int64()),
            "s": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def _u(rows: list[tuple]) -> pa.Table:
    # a wider key type on the other side: equal values must still meet
    return pa.table({"k": pa.array([r[0] for r in rows], pa.int64()), "b": pa.array([r[1] for r in rows], pa.int64())})


def _run(sql: str, tables: dict[str, pa.Table]) -> Counter:
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return Counter(con.sql(sql).fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("sql", LOCAL_QUERIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_t, cuts=st.lists(st.integers(0, 30), max_size=4))
def test_local_per_partition_equals_whole(sql: str, rows: list[tuple], cuts: list[int]) -> None:
    assert classify(sql, ["t"]).kind == "local"
    table = _t(rows)
    bounds = sorted({0, table.num_rows, *[min(c, table.num_rows) for c in cuts]})
    parts = Counter()
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        parts += _run(sql, {"t": table.slice(lo, hi - lo)})
    assert parts == _run(sql, {"t": table})


@pytest.mark.parametrize("sql", HASH_QUERIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_t, other=rows_u, buckets=st.integers(1, 5))
def test_hash_per_bucket_equals_whole(sql: str, rows: list[tuple], other: list[tuple], buckets: int) -> None:
    inputs = ["t", "u"] if " u" in sql else ["t"]
    scope = classify(sql, inputs)
    assert scope.kind == "hash", scope
    tables = {"t": _t(rows), "u": _u(other)}
    split = {name: split_by_hash(tables[name], scope.keys[name], buckets) for name in inputs}
    together = Counter()
    for b in range(buckets):
        together += _run(sql, {name: split[name][b] for name in inputs})
    assert together == _run(sql, {name: tables[name] for name in inputs})


def test_the_property_can_fail_for_an_unsafe_query() -> None:
    """Guards the property tests above: a global aggregate per bucket differs from once on all rows."""
    table = _t([(1, 1, "x"), (2, 2, "y"), (3, 3, "z")])
    sql = "SELECT count(*) FROM t"
    together = Counter()
    for part in split_by_hash(table, ["k"], 3):
        together += _run(sql, {"t": part})
    assert together != _run(sql, {"t": table})
