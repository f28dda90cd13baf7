"""duckdb.processor through the protocol: names, joins, decimals, errors, spill, streaming."""

from __future__ import annotations

import statistics
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from ruamel.yaml import YAML

from osiris.drivers.common.duckdb_conn import closing_reader
from osiris.drivers.duckdb_sql.processor import DuckDBProcessor, table_names
from osiris.runtime.driver import Cancelled, DriverError, Transformer
from osiris.runtime.testing import RecordingContext, ipc_input
from tests.conftest import CONFORMANCE

DEMO = CONFORMANCE / "examples" / "mysql_duckdb_supabase_demo.yaml"


def run(tmp_path: Path, query: str, tables: dict[str, pa.Table | pa.RecordBatchReader], **config) -> pa.Table:
    return stream(tmp_path, query, tables, **config)[0].read_all()


def stream(
    tmp_path: Path, query: str, tables: dict, **config
) -> tuple[pa.RecordBatchReader, RecordingContext]:
    inputs = {name: ipc_input(name, data, tmp_path) for name, data in tables.items()}
    ctx = RecordingContext(
        config={"query": query, **config}, work_dir=tmp_path, mode="transform", component="duckdb.processor"
    )
    return DuckDBProcessor().transform(ctx, inputs), ctx


ORDERS = pa.table(
    {
        "order_id": pa.array([1, 2, 3, 4], pa.int64()),
        "customer_id": pa.array([10, 10, 20, 30], pa.int32()),
        "amount": pa.array(
            [Decimal("10.50"), Decimal("0.25"), None, Decimal("99999999.99")], pa.decimal128(12, 2)
        ),
    }
)
CUSTOMERS = pa.table({"customer_id": pa.array([10, 20], pa.int32()), "name": ["Škoda", "Müller"]})


def test_protocol() -> None:
    assert isinstance(DuckDBProcessor(), Transformer)


def test_names_and_aliases() -> None:
    class Input:
        def __init__(self, name: str) -> None:
            self.name = name

    names = table_names({"extract-movies": Input("extract-movies")})
    assert names == {
        "extract-movies": "extract-movies",
        "df_extract_movies": "extract-movies",
        "input_df": "extract-movies",
    }
    two = table_names({"orders": Input("orders"), "extract.customers": Input("extract.customers")})
    assert "input_df" not in two and two["df_extract_customers"] == "extract.customers"


def test_multi_input_join_by_every_name(tmp_path: Path) -> None:
    query = """
        SELECT o.order_id, c.name, o.amount
        FROM "extract-orders" o LEFT JOIN df_extract_customers c USING (customer_id)
        ORDER BY o.order_id
    """
    table = run(tmp_path, query, {"extract-orders": ORDERS, "extract-customers": CUSTOMERS})
    assert table.column("name").to_pylist() == ["Škoda", "Škoda", "Müller", None]
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.column("amount").to_pylist() == ORDERS.column("amount").to_pylist()


def test_input_df_only_for_a_single_input(tmp_path: Path) -> None:
    table = run(
        tmp_path, "SELECT sum(amount) AS total, count(*) AS n FROM input_df", {"extract-orders": ORDERS}
    )
    assert table.to_pylist() == [{"total": Decimal("100000010.74"), "n": 4}]
    assert pa.types.is_decimal(table.schema.field("total").type)
    with pytest.raises(DriverError, match="input_df") as caught:
        run(tmp_path, "SELECT * FROM input_df", {"a": ORDERS, "b": CUSTOMERS})
    assert "tables: a, b, df_a, df_b" in caught.value.hint


def test_unknown_table_lists_registered_names(tmp_path: Path) -> None:
    with pytest.raises(
        DriverError, match=r"^DuckDB query failed: Catalog Error: Table with name extract_orders"
    ) as e:
        run(tmp_path, "SELECT * FROM extract_orders", {"extract-orders": ORDERS})
    assert e.value.hint == (
        "did you mean 'extract-orders'? tables: \"extract-orders\", df_extract_orders, input_df"
    )


def test_sql_errors_become_driver_errors(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="DuckDB query failed: Parser Error"):
        run(tmp_path, "SELEC 1", {"t": ORDERS})
    with pytest.raises(DriverError, match="no rows: its last statement is CREATE, not a SELECT"):
        run(tmp_path, "CREATE TABLE x AS SELECT 1", {"t": ORDERS})
    assert run(tmp_path, "CREATE TEMP TABLE y AS SELECT 1 AS a; FROM y", {"t": ORDERS}).num_rows == 1
    with pytest.raises(DriverError, match="Conversion Error"):
        run(tmp_path, "SELECT CAST(name AS INTEGER) FROM input_df", {"t": CUSTOMERS})
    with pytest.raises(DriverError, match="memory_limit 'lots'"):
        run(tmp_path, "SELECT 1", {"t": ORDERS}, memory_limit="lots")


def test_multiple_statements_and_rescans(tmp_path: Path) -> None:
    query = """
        CREATE TEMP TABLE big AS SELECT * FROM input_df WHERE amount > 1;
        SELECT (SELECT count(*) FROM big) AS big, (SELECT count(*) FROM input_df) AS all_rows,
               (SELECT max(order_id) FROM df_orders) AS top
    """
    assert run(tmp_path, query, {"orders": ORDERS}).to_pylist() == [{"big": 2, "all_rows": 4, "top": 4}]


def test_timestamps_come_back_in_utc(tmp_path: Path) -> None:
    ts = pa.table({"seen": pa.array([0, 3_600_000_000], pa.timestamp("us", tz="Europe/Prague"))})
    table = run(tmp_path, "SELECT seen, CAST(seen AS VARCHAR) AS text FROM input_df", {"t": ts})
    assert table.schema.field("seen").type == pa.timestamp("us", tz="UTC")
    assert table.column("text").to_pylist() == ["1970-01-01 00:00:00+00", "1970-01-01 01:00:00+00"]
    assert table.column("seen").cast(pa.int64()).to_pylist() == [0, 3_600_000_000]


def _movies() -> pa.Table:
    directors = [
        (1, "Věra Chytilová", "Czech"),
        (2, "Bong Joon-ho", "South Korean"),
        (3, "Agnès Varda", "French"),
    ]
    rows = []
    for i in range(30):
        director_id, name, nationality = directors[i % 3]
        rows.append(
            {
                "movie_id": i + 1,
                "title": f"Film {i + 1} — ñ",
                "release_year": 1960 + i,
                "director_id": director_id,
                "genre": ["drama", "comedy", "sci-fi", "drama"][i % 4],
                "runtime_minutes": 80 + i,
                "budget_usd": None if i == 4 else Decimal(1_000_000 + 12345 * i) / 1,
                "box_office_usd": Decimal(0) if i == 7 else Decimal(2_500_000 + 777_777 * i) / 1,
                "director_name": name,
                "director_nationality": nationality,
            }
        )
    schema = pa.schema(
        [
            ("movie_id", pa.int32()),
            ("title", pa.string()),
            ("release_year", pa.int32()),
            ("director_id", pa.int32()),
            ("genre", pa.string()),
            ("runtime_minutes", pa.int32()),
            ("budget_usd", pa.decimal128(15, 2)),
            ("box_office_usd", pa.decimal128(15, 2)),
            ("director_name", pa.string()),
            ("director_nationality", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def test_upstream_demo_query_via_input_df(tmp_path: Path) -> None:
    pipeline = YAML(typ="safe").load(DEMO.read_text())
    step = next(s for s in pipeline["steps"] if s["component"] == "duckdb.processor")
    assert "FROM input_df" in step["config"]["query"]
    movies = _movies()
    table = run(tmp_path, step["config"]["query"], {step["needs"][0]: movies})
    assert table.num_rows == 3
    usable = [
        r for r in movies.to_pylist() if r["budget_usd"] is not None and r["box_office_usd"] is not None
    ]
    by_director: dict[int, list[dict]] = {}
    for row in usable:
        by_director.setdefault(row["director_id"], []).append(row)
    totals = {d: sum(r["box_office_usd"] for r in rs) for d, rs in by_director.items()}
    assert table.column("director_id").to_pylist() == sorted(totals, key=totals.get, reverse=True)
    first = table.to_pylist()[0]
    rows = by_director[first["director_id"]]
    assert first["movie_count"] == len(rows)
    assert first["unique_genres"] == len({r["genre"] for r in rows})
    assert first["first_movie_year"] == min(r["release_year"] for r in rows)
    assert first["avg_runtime_minutes"] == round(statistics.mean(r["runtime_minutes"] for r in rows), 1)
    total = sum(r["box_office_usd"] for r in rows).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert Decimal(first["total_box_office_usd"]) == total
    assert pa.types.is_decimal(table.schema.field("total_box_office_usd").type)


def test_spills_under_a_small_memory_limit(tmp_path: Path) -> None:
    """A GROUP BY with 1.5M groups over 3M rows does not fit in 64MB: DuckDB must spill."""
    rows, groups = 3_000_000, 1_500_000
    source = duckdb.connect()
    data = source.sql(
        f"SELECT i AS id, i % {groups} AS k, (i * 7) % 1000 AS v, 'label ' || (i % 977) AS label"
        f" FROM range({rows}) t(i)"
    ).to_arrow_reader(500_000)
    query = "SELECT k, count(*) AS n, sum(v) AS total, max(label) AS label FROM input_df GROUP BY k"
    reader, ctx = stream(tmp_path, query, {"gen": data}, memory_limit="64MB", threads=2)
    seen = total_n = total_v = 0
    for batch in reader:
        seen += batch.num_rows
        total_n += pc.sum(batch.column("n")).as_py()
        total_v += pc.sum(batch.column("total")).as_py()
    source.close()
    assert seen == groups and total_n == rows
    assert total_v == sum((i * 7) % 1000 for i in range(1000)) * (rows // 1000)
    assert ctx.progress_calls[-1][0] == groups


def test_result_streams_and_closing_releases_the_connection(tmp_path: Path) -> None:
    con = duckdb.connect()
    inner = con.sql("SELECT * FROM range(100000) t(i)").to_arrow_reader(1000)
    reader = closing_reader(inner, con, prefix="q")
    assert reader.read_next_batch().num_rows > 0
    con.sql("SELECT 1")  # still open while the stream is being read
    del reader  # dropping the reader part-way finalises it
    with pytest.raises(duckdb.Error):
        con.sql("SELECT 1")
    con = duckdb.connect()
    reader = closing_reader(con.sql("SELECT 1 AS x").to_arrow_reader(10), con, prefix="q")
    assert reader.read_all().num_rows == 1
    with pytest.raises(duckdb.Error):
        con.sql("SELECT 1")


def test_cancel_between_batches(tmp_path: Path) -> None:
    big = pa.table({"i": pa.array(range(300_000), pa.int64())})
    reader, ctx = stream(tmp_path, "SELECT i * 2 AS j FROM input_df", {"t": big})
    reader.read_next_batch()
    ctx.cancelled = True
    with pytest.raises(Cancelled):
        for _ in reader:
            pass
