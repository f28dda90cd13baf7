"""How PostgreSQL failures reach the user: classified, with the server's words, without secrets."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.drivers.postgres.writer import PostgresWriter
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection, TransientError
from osiris.runtime.testing import RecordingContext

SECRET = "pw-SECRET-4711"
OSIRIS_BACKENDS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'osiris'"
)


def backends_after_close(db: psycopg.Connection) -> int:
    """Backends of ours still listed; a backend leaves pg_stat_activity shortly after its client closes."""
    for _ in range(100):
        count = db.execute(OSIRIS_BACKENDS).fetchone()[0]
        if count == 0:
            return 0
        time.sleep(0.05)
    return count


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE locked (id int4 PRIMARY KEY)")
        yield conn


def conn_fields(postgres_db: dict, **fields: object) -> ResolvedConnection:
    base = {k: postgres_db[k] for k in ("host", "port", "database", "user")}
    return ResolvedConnection(
        "postgres", "t", {**base, "password": SECRET, **fields}, frozenset({"password"})
    )


def extract(connection: ResolvedConnection, **config: object) -> pa.RecordBatchReader:
    return PostgresExtractor().extract(RecordingContext(config=config, connection=connection))


@pytest.mark.postgres
def test_backend_terminated_mid_stream_is_transient(postgres_db: dict, db: psycopg.Connection) -> None:
    connection = conn_fields(postgres_db)
    reader = extract(
        connection,
        query="SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 2000000) g",
        batch_size=1000,
    )
    first = reader.read_next_batch()
    assert first.num_rows > 0
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'osiris' AND pid <> pg_backend_pid()"
    )
    lost = "terminating connection due to administrator command|server closed the connection unexpectedly"
    with pytest.raises(TransientError, match=lost) as info:
        reader.read_all()
    assert SECRET not in str(info.value) and "retried" in info.value.hint


@pytest.mark.postgres
def test_lock_timeout_is_transient(postgres_db: dict, db: psycopg.Connection) -> None:
    dsn = postgres_db["dsn"] + "?options=-c%20lock_timeout%3D200"
    connection = ResolvedConnection("postgres", "t", {"dsn": dsn}, frozenset({"dsn"}))
    holder = psycopg.connect(postgres_db["dsn"])
    holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
    try:
        ctx = RecordingContext(config={"table": "locked"}, connection=connection, mode="write")
        with pytest.raises(TransientError, match=r"\[55P03\].*lock") as info:
            PostgresWriter().write(ctx, pa.table({"id": pa.array([1], pa.int32())}).to_reader())
        assert "retried" in info.value.hint
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.postgres
def test_refused_connection_is_transient_and_hides_the_password(postgres_db: dict) -> None:
    with pytest.raises(TransientError, match="connect failed") as info:
        extract(conn_fields(postgres_db, port=1), query="SELECT 1")
    assert SECRET not in str(info.value) and "127.0.0.1:1/" in str(info.value)


@pytest.mark.postgres
def test_missing_database_is_permanent_and_dsn_is_never_shown(postgres_db: dict) -> None:
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_db_osiris"
    connection = ResolvedConnection("postgres", "t", {"dsn": dsn}, frozenset({"dsn"}))
    with pytest.raises(DriverError, match='database "no_such_db_osiris" does not exist') as info:
        extract(connection, query="SELECT 1")
    assert not isinstance(info.value, TransientError)
    assert SECRET not in str(info.value) and dsn not in str(info.value)


@pytest.mark.postgres
def test_sql_errors_carry_the_server_message(postgres_db: dict) -> None:
    connection = conn_fields(postgres_db)
    with pytest.raises(DriverError, match=r'\[42P01\].*relation "public.nope" does not exist') as info:
        extract(connection, table="nope")
    assert "schema" in info.value.hint
    with pytest.raises(DriverError, match=r"\[42601\].*syntax error"):
        extract(connection, query="SELEC 1")
    # the native reader keeps the SQLSTATE of an error mid-stream; ADBC's COPY reader drops it
    with pytest.raises(DriverError, match=r"reading rows failed( \[22012\])?: division by zero"):
        extract(connection, query="SELECT 1 / (g - 3) FROM generate_series(1, 5) g").read_all()


@pytest.mark.postgres
def test_cancel_stops_the_stream_and_closes_the_connection(postgres_db: dict, db: psycopg.Connection) -> None:
    ctx = RecordingContext(
        config={"query": "SELECT g FROM generate_series(1, 500000) g", "batch_size": 1000},
        connection=conn_fields(postgres_db),
    )
    reader = PostgresExtractor().extract(ctx)
    reader.read_next_batch()
    ctx.cancelled = True
    with pytest.raises(Cancelled):
        reader.read_next_batch()
    assert backends_after_close(db) == 0


@pytest.mark.postgres
def test_stream_is_lazy_and_closes_after_the_last_batch(postgres_db: dict, db: psycopg.Connection) -> None:
    reader = extract(
        conn_fields(postgres_db), query="SELECT g FROM generate_series(1, 300000) g", batch_size=1000
    )
    assert db.execute(OSIRIS_BACKENDS).fetchone()[0] == 1
    assert sum(batch.num_rows for batch in reader) == 300000
    assert backends_after_close(db) == 0


def test_unescaped_password_characters_never_reach_a_message() -> None:
    from osiris.drivers.postgres.connect import params_from
    from osiris.runtime.driver import DriverError, ResolvedConnection

    conn = ResolvedConnection("postgres", "wh", {"dsn": "postgresql://postgres:Pg/p4ss@9b2d@127.0.0.1:1/test"},
                              frozenset({"dsn", "password"}))
    with pytest.raises(DriverError) as caught:
        params_from(conn)
    assert "p4ss" not in str(caught.value) and "%2F" in (caught.value.hint or "")
