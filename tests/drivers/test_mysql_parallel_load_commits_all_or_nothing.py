"""mysql.writer's parallel LOAD DATA (drivers/mysql/branches.py) against the real MariaDB.

Rows go out on several connections and are committed by a two-phase commit: every row or none,
a repeated key still fails at once, and prepared branches a lost writer left behind are
finished by the next write as its decision row says.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pymysql
import pytest

from osiris.drivers.mysql.branches import _split, load_id, routing_column
from osiris.runtime.driver import DriverError
from tests.drivers.test_mysql_write import failing, people, rows, run_sql, write

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    return mysql_db


@pytest.fixture
def table(db: dict, request: pytest.FixtureRequest) -> str:
    name = f"par_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"[:60]
    run_sql(db, f"DROP TABLE IF EXISTS `{name}`",
            f"CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, name VARCHAR(40), score DECIMAL(10,2))",
            f"INSERT INTO `{name}` VALUES (1, 'n1', 0.25)")
    yield name
    for _, gtrid_length, bqual_length, data in run_sql(db, "XA RECOVER"):  # a failed test's leftovers
        xid = data.decode() if isinstance(data, bytes) else data
        if xid.startswith("osiris-load:999999999:"):
            run_sql(db, f"XA ROLLBACK '{xid[:gtrid_length]}', '{xid[gtrid_length:gtrid_length + bqual_length]}'")
    run_sql(db, f"DROP TABLE IF EXISTS `{name}`")


def _prepared(db: dict) -> list[str]:
    return [row[3].decode() if isinstance(row[3], bytes) else row[3] for row in run_sql(db, "XA RECOVER")
            if "osiris-load" in str(row[3])]


def _decisions(db: dict) -> list[tuple]:
    return run_sql(db, "SELECT load_id FROM _osiris_loads")


def _events(ctx_events: list, name: str) -> list[dict]:
    return [fields for event, fields in ctx_events if event == name]


def _write(db: dict, config: dict, data) -> list:
    from osiris.drivers.mysql.writer import MySQLWriter
    from osiris.runtime.testing import RecordingContext
    from tests.drivers.test_mysql_write import resolved

    ctx = RecordingContext(config=config, connection=resolved(db), component="mysql.writer", mode="write")
    reader = data.to_reader(max_chunksize=50) if isinstance(data, pa.Table) else data
    MySQLWriter().write(ctx, reader)
    return ctx.events


def test_rows_on_two_connections_are_all_committed(db: dict, table: str) -> None:
    ids = list(range(10, 2010))
    events = _write(db, {"table": table, "load_method": "load_data", "batch_size": 100}, people(ids))
    (start,) = _events(events, "mysql.write.start")
    assert start["connections"] == 2
    assert rows(db, table)[1:] == [(i, f"n{i}", people([i]).column("score")[0].as_py()) for i in ids]
    assert _prepared(db) == [] and _decisions(db) == []


def test_both_connections_really_load(db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each connection runs its own LOAD DATA, with rows dealt out by key."""
    import osiris.drivers.mysql.load as load

    threads: list[int] = []
    real = load._load_data

    def spy(conn, *rest):
        threads.append(conn.thread_id())
        return real(conn, *rest)

    monkeypatch.setattr(load, "_load_data", spy)
    _write(db, {"table": table, "load_method": "load_data"}, people(list(range(100, 400))))
    assert len(set(threads)) == 2
    assert run_sql(db, f"SELECT COUNT(*) FROM `{table}`") == [(301,)]


def test_a_repeated_key_in_the_input_fails_at_once_and_changes_nothing(db: dict, table: str) -> None:
    """Equal keys share a connection, so the second is a duplicate there (not a 50 s lock wait
    on the other connection's uncommitted row)."""
    before = rows(db, table)
    data = people([20, 21, 22, 23, 24, 25, 21])  # 21 twice, in different batches
    with pytest.raises(DriverError, match="Duplicate entry '21'.*1062"):
        write(db, {"table": table, "load_method": "load_data"}, data)
    assert rows(db, table) == before
    assert _prepared(db) == []


def test_a_bad_value_on_the_second_connection_rolls_back_the_first(db: dict, table: str) -> None:
    before = rows(db, table)
    ids = list(range(30, 60))
    names = [f"n{i}" if i != 41 else "x" * 100 for i in ids]  # 41 goes to the second connection
    data = pa.table({"id": pa.array(ids, pa.int64()), "name": names,
                     "score": pa.array([None] * len(ids), pa.decimal128(10, 2))})
    with pytest.raises(DriverError, match="(?i)data too long|truncated"):
        write(db, {"table": table, "load_method": "load_data"}, data)
    assert rows(db, table) == before
    assert _prepared(db) == []


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_an_upstream_failure_after_both_connections_started_changes_nothing(db: dict, table: str,
                                                                           mode: str) -> None:
    before = rows(db, table)
    with pytest.raises(RuntimeError, match="upstream broke"):
        write(db, {"table": table, "write_mode": mode, "load_method": "load_data", "batch_size": 1},
              failing(people([70, 71, 72, 73, 74]), 4, RuntimeError("upstream broke")))
    assert rows(db, table) == before
    assert _prepared(db) == []
    assert [r for r in run_sql(db, "SHOW TABLES LIKE '%osiris%'") if r[0] != "_osiris_loads"] == []


def test_replace_on_two_connections_swaps_in_every_row(db: dict, table: str) -> None:
    events = _write(db, {"table": table, "write_mode": "replace", "load_method": "load_data"},
                    people(list(range(500, 900))))
    assert _events(events, "mysql.write.start")[0]["connections"] == 2
    assert run_sql(db, f"SELECT COUNT(*), MIN(id), MAX(id) FROM `{table}`") == [(400, 500, 899)]


def test_a_created_table_is_loaded_on_two_connections_and_dropped_on_failure(db: dict) -> None:
    name = f"par_created_{uuid.uuid4().hex[:8]}"
    try:
        config = {"table": name, "create_if_missing": True, "primary_key": "id", "load_method": "load_data",
                  "batch_size": 1}
        with pytest.raises(RuntimeError):
            write(db, config, failing(people([1, 2, 3, 4]), 3, RuntimeError("boom")))
        assert run_sql(db, f"SHOW TABLES LIKE '{name}'") == []
        events = _write(db, config, people(list(range(1, 101))))
        assert _events(events, "mysql.write.start")[0]["connections"] == 2
        assert run_sql(db, f"SELECT COUNT(*) FROM `{name}`") == [(100,)]
    finally:
        run_sql(db, f"DROP TABLE IF EXISTS `{name}`")


def test_one_connection_when_asked_or_when_keys_cannot_be_dealt_out(db: dict, table: str) -> None:
    events = _write(db, {"table": table, "load_method": "load_data", "load_connections": 1}, people([5, 6]))
    assert _events(events, "mysql.write.start")[0]["connections"] == 1
    run_sql(db, f"ALTER TABLE `{table}` ADD UNIQUE KEY by_name (name)")
    events = _write(db, {"table": table, "load_method": "load_data"}, people([7, 8]))
    assert _events(events, "mysql.write.start")[0]["connections"] == 1
    assert "several unique keys" in _events(events, "mysql.write.one_connection")[0]["reason"]
    assert run_sql(db, f"SELECT COUNT(*) FROM `{table}`") == [(5,)]


def _load_id(db: dict, writer: int, database: str | None = None) -> str:
    return load_id(writer, f"`{database or db['database']}`.`_osiris_loads`", uuid.uuid4().hex[:16])


def _leave_prepared(db: dict, table: str, gtrid: str, ids: list[int], decided: bool) -> None:
    """What a writer killed between the phases leaves: a prepared branch holding `ids`, and
    (after its commit point) the decision row."""
    conn = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"])
    with conn.cursor() as cur:
        cur.execute(f"XA START '{gtrid}', '1'")
        for i in ids:
            cur.execute(f"INSERT INTO `{table}` VALUES ({i}, 'orphan', 1)")
        cur.execute(f"XA END '{gtrid}', '1'")
        cur.execute(f"XA PREPARE '{gtrid}', '1'")
    conn.close()
    run_sql(db, "CREATE TABLE IF NOT EXISTS _osiris_loads (load_id VARCHAR(64) NOT NULL PRIMARY KEY, "
                "decided_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB")
    if decided:
        run_sql(db, f"INSERT INTO _osiris_loads (load_id) VALUES ('{gtrid}')")


@pytest.mark.parametrize("decided", [True, False])
def test_the_next_write_finishes_what_a_lost_writer_prepared(db: dict, table: str, decided: bool) -> None:
    gtrid = _load_id(db, 999999999)  # no such connection: its writer is gone
    _leave_prepared(db, table, gtrid, [800, 801], decided)
    events = _write(db, {"table": table, "load_method": "load_data"}, people([900]))
    assert _events(events, "mysql.write.recovered") == [
        {"xid": f"{gtrid}/1", "action": "commit" if decided else "rollback"}]
    expected = {1, 900} | ({800, 801} if decided else set())
    assert {r[0] for r in run_sql(db, f"SELECT id FROM `{table}`")} == expected
    assert _prepared(db) == [] and _decisions(db) == []


def test_a_prepared_branch_whose_writer_is_connected_is_left_alone(db: dict, table: str) -> None:
    """A live writer holds its load's named lock; its branch may be about to commit."""
    holder = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"])
    try:
        gtrid = _load_id(db, holder.thread_id())
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 0)", (gtrid,))
        _leave_prepared(db, table, gtrid, [810], decided=False)
        events = _write(db, {"table": table, "load_method": "load_data"}, people([910]))
        assert _events(events, "mysql.write.recovered") == []
        assert gtrid in "".join(_prepared(db))
    finally:
        run_sql(db, f"XA ROLLBACK '{gtrid}', '1'")
        holder.close()


@pytest.mark.parametrize("whose", ["another application", "a load recorded in another database"])
def test_other_xa_transactions_are_not_touched(db: dict, table: str, whose: str) -> None:
    """Neither someone else's XA transaction nor a lost load whose decision lives in another
    database's `_osiris_loads` (not finding it here must not roll it back)."""
    gtrid = f"someone-else-{uuid.uuid4().hex[:8]}" if whose == "another application" \
        else _load_id(db, 999999999, database="another_db")
    _leave_prepared(db, table, gtrid, [820], decided=False)
    try:
        events = _write(db, {"table": table, "load_method": "load_data"}, people([920]))
        assert _events(events, "mysql.write.recovered") == []
        assert any(gtrid in str(row[3]) for row in run_sql(db, "XA RECOVER"))
    finally:
        run_sql(db, f"XA ROLLBACK '{gtrid}', '1'")


def test_rows_are_dealt_out_by_key_so_equal_keys_meet() -> None:
    batch = pa.record_batch({"id": pa.array([5, 2, None, 7, -4, 9, 2**63 - 1, -2**63], pa.int64()),
                             "v": list("abcdefgh")})
    parts = _split(batch, "id", 3)
    assert sum(p.num_rows for p in parts) == batch.num_rows
    for index, part in enumerate(parts):
        assert all(abs(k or 0) % 3 == index or k is not None and k < 0 for k in part.column("id").to_pylist())
    again = _split(pa.record_batch({"id": pa.array([5, 5, 5], pa.int64()), "v": list("xyz")}), "id", 3)
    assert [p.num_rows for p in again].count(3) == 1


def test_routing_needs_one_unique_key_with_an_integer_column() -> None:
    schema = pa.schema([("id", pa.int64()), ("code", pa.string())])
    assert routing_column(schema, []) is None
    assert routing_column(schema, [{"id"}]) == "id"
    assert routing_column(schema, [{"code", "id"}]) == "id"
    assert routing_column(schema, [{"code"}]) is False
    assert routing_column(schema, [{"id"}, {"code"}]) is False




def test_a_connection_the_server_refuses_leaves_the_load_on_the_ones_there_are(
        db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Too many connections on the server is no reason to fail the write."""
    import osiris.drivers.mysql.branches as branches

    def refused(*_args, **_kwargs):
        raise DriverError("Too many connections (1040)")

    monkeypatch.setattr(branches, "connect", refused)
    write(db, {"table": table, "load_method": "load_data", "load_connections": 3}, people(list(range(40, 100))))
    assert run_sql(db, f"SELECT COUNT(*) FROM `{table}`") == [(61,)]
    assert _prepared(db) == [] and _decisions(db) == []
