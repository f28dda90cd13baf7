"""supabase.* over REST: the real supabase client against the PostgREST stand-in on real Postgres."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.supabase.extractor import SupabaseExtractor
from osiris.drivers.supabase.writer import SupabaseWriter
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection, TransientError
from osiris.runtime.testing import RecordingContext
from tests.support.postgrest import PostgrestStandIn, running

KEY = "service-role-key-SECRET-0042"
BIG = "9999999999999999999999999999.9999999999"


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id int8 PRIMARY KEY, status text NOT NULL, total numeric(12,2), "
            "note text, placed date)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 'cancelled' ELSE 'completed' END, "
            "g * 10.5, "
            "CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END, DATE '2024-01-01' + g "
            "FROM generate_series(1, 25) g"
        )
        conn.execute(
            "CREATE TABLE kinds (id int4 PRIMARY KEY, amount numeric(38,10), free numeric, doc jsonb, "
            "u uuid, at timestamptz, naive timestamp, t time, b bytea, tags text[], ok bool, f8 float8, "
            "label varchar(40))"
        )
        conn.execute(
            'INSERT INTO kinds VALUES (1, %s, 0.1, \'{"b": 1, "a": [true, null]}\', '
            "'12345678-1234-5678-1234-567812345678', '2024-02-29 23:59:59.999999+00', '0001-01-01 00:00', "
            "'12:00:01.5', '\\x00ff', '{x,\"y z\"}', true, 1.5e300, 'Zürich 東京 🚀'), "
            "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            [Decimal(BIG)],
        )
        conn.execute(
            "CREATE TABLE sink (id int4 PRIMARY KEY, amount numeric(38,10), doc jsonb, at timestamptz, "
            "b bytea, tags text[], note text DEFAULT 'dflt')"
        )
        conn.execute("CREATE TABLE nopk (v text)")
        conn.execute("INSERT INTO nopk VALUES ('a'), ('b')")
        yield conn


@pytest.fixture(scope="module")
def api(postgres_db: dict, db: psycopg.Connection) -> Iterator[PostgrestStandIn]:
    with running(PostgrestStandIn(postgres_db["dsn"], api_key=KEY)) as state:
        yield state


@pytest.fixture
def connection(api: PostgrestStandIn) -> ResolvedConnection:
    api.requests.clear()
    return ResolvedConnection(
        "supabase",
        "main",
        {"url": api.url, "service_role_key": KEY, "anon_key": "anon"},
        frozenset({"service_role_key", "anon_key"}),
    )


def extract(connection: ResolvedConnection, **config: object) -> tuple[pa.Table, RecordingContext]:
    ctx = RecordingContext(config=config, connection=connection)
    return SupabaseExtractor().extract(ctx).read_all(), ctx


def write(connection: ResolvedConnection, data: pa.Table | pa.RecordBatchReader, **config: object):
    ctx = RecordingContext(config=config, connection=connection, mode="write")
    reader = data.to_reader() if isinstance(data, pa.Table) else data
    return SupabaseWriter().write(ctx, reader), ctx


def gets(api: PostgrestStandIn, table: str) -> list[dict]:
    return [
        dict(r["query"]) for r in api.requests if r["method"] == "GET" and r["path"] == f"/rest/v1/{table}"
    ]


@pytest.mark.postgres
def test_extract_pages_with_filters_and_order(connection, api) -> None:
    table, ctx = extract(
        connection,
        table="orders",
        filter={"status": "eq.completed", "total": "gte.50"},
        order="id.desc",
        page_size=4,
    )
    expected = [g for g in range(25, 0, -1) if g % 3 and g * 10.5 >= 50]
    assert table.column("id").to_pylist() == expected
    pages = gets(api, "orders")
    assert len(pages) == len(expected) // 4 + 2  # full pages, the partial one, then an empty page
    assert [p["offset"] for p in pages[:3]] == ["0", "4", "8"] and pages[0]["limit"] == "4"
    assert pages[0]["status"] == "eq.completed" and pages[0]["order"] == "id.desc"
    assert table.schema.field("total").type == pa.string()  # REST carries no numeric precision
    assert table.column("total").to_pylist()[0] == "262.50"
    assert ctx.progress_calls[-1][0] == len(expected)


@pytest.mark.postgres
def test_extract_orders_by_primary_key_and_honours_limit_offset_select(connection, api) -> None:
    table, _ = extract(connection, table="orders", select="id,note", limit=5, offset=3, page_size=2)
    assert table.to_pylist() == [{"id": i, "note": None if i % 5 == 0 else f"note {i}"} for i in range(4, 9)]
    assert gets(api, "orders")[0]["order"] == "id.asc"
    assert [p["limit"] for p in gets(api, "orders")] == ["2", "2", "1"]


@pytest.mark.postgres
def test_filter_operators(connection) -> None:
    def ids(**filters: object) -> list[int]:
        return extract(connection, table="orders", select="id", filter=filters)[0].column("id").to_pylist()

    assert ids(id='in.(2,3,"5")') == [2, 3, 5]
    assert ids(id="lt.8", status="not.eq.completed") == [3, 6]
    assert ids(note="is.null") == [5, 10, 15, 20, 25]
    assert ids(note="like.*te 1*", id="lte.12") == [1, 11, 12]  # note 10 is NULL
    assert ids(status="ilike.CANC*", id="gt.20") == [21, 24]
    assert ids(id=7) == [7]
    with pytest.raises(DriverError, match="cannot read 'approx.5'") as info:
        ids(id="approx.5")
    assert "eq, neq" in info.value.hint


@pytest.mark.postgres
def test_types_come_back_exact(connection) -> None:
    table, _ = extract(connection, table="kinds")
    types = {f.name: f.type for f in table.schema}
    assert types == {
        "id": pa.int32(),
        "amount": pa.string(),
        "free": pa.string(),
        "doc": pa.json_(),
        "u": pa.uuid(),
        "at": pa.timestamp("us", tz="UTC"),
        "naive": pa.timestamp("us"),
        "t": pa.time64("us"),
        "b": pa.binary(),
        "tags": pa.list_(pa.string()),
        "ok": pa.bool_(),
        "f8": pa.float64(),
        "label": pa.string(),
    }
    assert table.schema.field("amount").metadata == {b"POSTGRESQL:type": b"numeric"}
    first, empty = table.to_pylist()
    assert first == {
        "id": 1,
        "amount": BIG,
        "free": "0.1",
        "doc": '{"a": [true, null], "b": 1}',
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "at": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "naive": dt.datetime(1, 1, 1),
        "t": dt.time(12, 0, 1, 500000),
        "b": b"\x00\xff",
        "tags": ["x", "y z"],
        "ok": True,
        "f8": 1.5e300,
        "label": "Zürich 東京 🚀",
    }
    assert all(v is None for k, v in empty.items() if k != "id")


@pytest.mark.postgres
def test_append_in_batches_with_exact_values(connection, api, db) -> None:
    db.execute("TRUNCATE sink")
    data = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int32()),
            "amount": pa.array(
                [Decimal(BIG), Decimal("-0.0000000001"), None, Decimal(1), Decimal(2)], pa.decimal128(38, 10)
            ),
            "doc": pa.ExtensionArray.from_storage(
                pa.json_(), pa.array(['{"k": [1, "ü"]}', None, "[]", "1", '"s"'])
            ),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)] + [None] * 4, pa.timestamp("us", tz="UTC")
            ),
            "b": pa.array([b"\x00\x01", None, b"", None, None]),
            "tags": pa.array([["a", None], None, [], None, None], pa.list_(pa.string())),
        }
    )
    result, _ = write(connection, data, table="sink", batch_size=2)
    assert (result.rows, result.target) == (5, "public.sink")
    posts = [r for r in api.requests if r["method"] == "POST"]
    assert len(posts) == 3 and all("return=minimal" in r["prefer"] for r in posts)
    assert db.execute("SELECT id, amount::text, doc, at, b, tags, note FROM sink ORDER BY id").fetchall()[
        :2
    ] == [
        (
            1,
            BIG,
            {"k": [1, "ü"]},
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
            b"\x00\x01",
            ["a", None],
            "dflt",
        ),
        (2, "-0.0000000001", None, None, None, None, "dflt"),
    ]
    assert [r[0] for r in db.execute("SELECT doc FROM sink WHERE id > 2 ORDER BY id")] == [[], 1, "s"]


@pytest.mark.postgres
def test_upsert_on_conflict_last_row_wins(connection, api, db) -> None:
    db.execute("TRUNCATE sink")
    db.execute("INSERT INTO sink (id, note) VALUES (1, 'old'), (2, 'keep')")
    data = pa.table({"id": pa.array([1, 3, 3], pa.int32()), "note": ["new", "first", "last"]})
    write(connection, data, table="sink", write_mode="upsert", primary_key="id")
    assert db.execute("SELECT id, note FROM sink ORDER BY id").fetchall() == [
        (1, "new"),
        (2, "keep"),
        (3, "last"),
    ]
    post = next(r for r in api.requests if r["method"] == "POST")
    assert ("on_conflict", "id") in post["query"] and "resolution=merge-duplicates" in post["prefer"]


@pytest.mark.postgres
def test_failed_request_reports_committed_rows(connection, db) -> None:
    db.execute("TRUNCATE sink")
    db.execute("INSERT INTO sink (id) VALUES (4)")
    data = pa.table({"id": pa.array([1, 2, 3, 4, 5], pa.int32())})
    with pytest.raises(
        DriverError, match=r"\[23505\].*duplicate key.*2 row\(s\) sent by earlier requests"
    ) as info:
        write(connection, data, table="sink", batch_size=2)
    assert not isinstance(info.value, TransientError)  # a retried append would duplicate rows
    assert db.execute("SELECT id FROM sink ORDER BY id").fetchall() == [(1,), (2,), (4,)]
    assert KEY not in str(info.value)


@pytest.mark.postgres
def test_upstream_failure_or_cancel_sends_nothing(connection, api, db) -> None:
    db.execute("TRUNCATE sink")

    def broken(error: BaseException) -> pa.RecordBatchReader:
        def batches():
            yield pa.record_batch({"id": pa.array([1], pa.int32())})
            raise error

        return pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int32())]), batches())

    with pytest.raises(RuntimeError, match="upstream"):
        write(connection, broken(RuntimeError("upstream")), table="sink")
    with pytest.raises(Cancelled):
        write(connection, broken(Cancelled("step")), table="sink")
    assert not [r for r in api.requests if r["method"] == "POST"]
    assert db.execute("SELECT count(*) FROM sink").fetchone()[0] == 0


@pytest.mark.postgres
def test_replace_and_create_need_dsn(connection) -> None:
    data = pa.table({"id": pa.array([1], pa.int32())})
    with pytest.raises(DriverError, match="replace.*needs the Postgres path") as info:
        write(connection, data, table="sink", write_mode="replace")
    assert "dsn" in info.value.hint
    with pytest.raises(DriverError, match="does not exist and `create_if_missing` needs `dsn`"):
        write(connection, data, table="brand_new", create_if_missing=True)
    with pytest.raises(DriverError, match=r"\['extra'\] of the stream are not in public.sink"):
        write(connection, pa.table({"id": [1], "extra": [2]}), table="sink")


@pytest.mark.postgres
def test_api_errors_are_classified_without_the_key(connection, api) -> None:
    wrong = ResolvedConnection(
        "supabase", "main", {"url": api.url, "key": "wrong-key-SECRET"}, frozenset({"key"})
    )
    with pytest.raises(DriverError, match=r"\[PGRST301\].*Invalid API key") as info:
        extract(wrong, table="orders")
    assert "`service_role_key`" in info.value.hint and "wrong-key-SECRET" not in str(info.value)
    with pytest.raises(DriverError, match="public.missing is not in the API schema"):
        extract(connection, table="missing")
    with pytest.raises(DriverError, match=r'\[42703\].*column "nope" does not exist'):
        extract(connection, table="orders", filter={"nope": "eq.1"})
    with pytest.raises(DriverError, match="`query` needs the Postgres path"):
        extract(connection, query="SELECT 1")
    refused = ResolvedConnection(
        "supabase", "x", {"url": "http://127.0.0.1:1", "key": KEY}, frozenset({"key"})
    )
    with pytest.raises(TransientError, match="reading the API schema failed") as info:
        extract(refused, table="orders")
    assert KEY not in str(info.value)


@pytest.mark.postgres
def test_unordered_table_pages_with_a_warning_event(connection) -> None:
    table, ctx = extract(connection, table="nopk")
    assert sorted(table.column("v").to_pylist()) == ["a", "b"]
    assert "supabase_unordered_paging" in [name for name, _ in ctx.events]


@pytest.mark.postgres
def test_discovery_and_health_over_rest(connection, api) -> None:
    result = SupabaseExtractor().discover(connection, tables=["orders", "kinds"], sample_rows=2)
    orders, kinds = result.tables
    assert (orders.name, orders.schema, orders.row_count, result.source) == (
        "orders",
        "public",
        25,
        "@supabase.main",
    )
    assert [(c.name, c.type, c.arrow_type, c.nullable, c.primary_key) for c in orders.columns] == [
        ("id", "bigint", "int64", False, True),
        ("status", "text", "string", False, False),
        ("total", "numeric", "string", True, False),
        ("note", "text", "string", True, False),
        ("placed", "date", "date32[day]", True, False),
    ]
    assert [row["id"] for row in orders.sample] == [1, 2] and orders.sample[0]["total"] == "10.50"
    assert kinds.columns[3].arrow_type == "extension<arrow.json>"
    everything = SupabaseWriter().discover(connection)
    assert {t.name for t in everything.tables} >= {"orders", "kinds", "sink", "nopk"}
    report = SupabaseWriter().health_check(connection, timeout_s=3)
    assert report.ok and report.details["tables"] >= 4
    bad = ResolvedConnection(
        "supabase", "main", {"url": api.url, "anon_key": "nope"}, frozenset({"anon_key"})
    )
    report = SupabaseExtractor().health_check(bad)
    assert (
        not report.ok
        and "Invalid API key" in report.message
        and "nope" not in report.message.replace("Invalid", "")
    )
