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

from osiris.drivers.mysql.branches import load_id
from osiris.drivers.mysql.fanout import _split, routing_column
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


@pytest.mark.parametrize(("ddl", "why"), [
    ("ALTER TABLE `{t}` MODIFY id BIGINT NOT NULL AUTO_INCREMENT", "AUTO_INCREMENT"),
    ("ALTER TABLE `{t}` ADD parent BIGINT NULL, ADD FOREIGN KEY (parent) REFERENCES `{t}` (id)",
     "foreign key into itself"),
    ("CREATE TRIGGER `{t}_tr` BEFORE INSERT ON `{t}` FOR EACH ROW SET NEW.name = NEW.name", "triggers"),
    ("ALTER TABLE `{t}` ENGINE=Aria", "not InnoDB"),  # table locks: the load would hang
    ("ALTER TABLE `{t}` DROP PRIMARY KEY, MODIFY id BIGINT NULL, ADD UNIQUE KEY by_id (id)",
     "unique key other than its primary key"),  # deleted rows' gap locks
    ("ALTER TABLE `{t}` MODIFY id INT NOT NULL", "cannot hold every int64 value"),  # 2**32 and 0 would meet
])
def test_a_table_whose_rows_could_wait_on_each_other_loads_on_one_connection(db: dict, table: str, ddl: str,
                                                                              why: str) -> None:
    """AUTO-INC table locks, parent-row checks and trigger writes would make one branch wait for
    another's locks until our commit, which waits for it: a 50 s stall and a false error."""
    run_sql(db, ddl.format(t=table))
    events = _write(db, {"table": table, "load_method": "load_data"}, people(list(range(100, 700))))
    assert _events(events, "mysql.write.start")[0]["connections"] == 1
    assert why in _events(events, "mysql.write.one_connection")[0]["reason"]
    assert run_sql(db, f"SELECT COUNT(*) FROM `{table}`") == [(601,)]


def test_a_view_as_target_loads_on_one_connection(db: dict, table: str) -> None:
    """A view has no keys of its own to deal rows by: its base table's checks do not apply to it."""
    view = f"{table}_v"[:64]
    run_sql(db, f"CREATE OR REPLACE VIEW `{view}` AS SELECT * FROM `{table}`")
    try:
        events = _write(db, {"table": view, "load_method": "load_data"}, people([600, 601]))
        assert "view" in _events(events, "mysql.write.one_connection")[0]["reason"]
        with pytest.raises(DriverError, match="Duplicate entry '700'"):
            write(db, {"table": view, "load_method": "load_data"}, people([700, 702, 704, 700]))
    finally:
        run_sql(db, f"DROP VIEW IF EXISTS `{view}`")
    assert run_sql(db, f"SELECT COUNT(*) FROM `{table}`") == [(3,)]


def test_a_missing_load_connections_means_the_default(db: dict, table: str) -> None:
    events = _write(db, {"table": table, "load_method": "load_data", "load_connections": None}, people([5, 6]))
    assert _events(events, "mysql.write.start")[0]["connections"] == 2


def test_a_one_connection_write_also_finishes_a_lost_load(db: dict, table: str) -> None:
    """Its prepared rows would hold up this write's own rows (or a replace's RENAME)."""
    gtrid = _load_id(db, 999999999)
    _leave_prepared(db, table, gtrid, [840], decided=True)
    events = _write(db, {"table": table, "load_method": "insert"}, people([940]))
    assert _events(events, "mysql.write.recovered") == [{"xid": f"{gtrid}/1", "action": "commit"}]
    assert {r[0] for r in run_sql(db, f"SELECT id FROM `{table}`")} == {1, 840, 940}
    assert _prepared(db) == []


def _main_commit(monkeypatch: pytest.MonkeyPatch, *, reaches_server: bool) -> None:
    """The writer's COMMIT at the load's commit point (after phase 1) raises 'lost connection'
    after (or instead of) committing."""
    import osiris.drivers.mysql.branches as branches
    import osiris.drivers.mysql.writer as writer

    real_connect, real_prepare, patched, armed = writer.connect, branches.Branches.prepare, [], []

    def prepare(self, main_cur) -> None:
        real_prepare(self, main_cur)
        armed.append(True)

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        if not patched:
            patched.append(conn)
            real_commit = conn.commit

            def commit() -> None:
                if not armed:
                    return real_commit()
                armed.clear()
                if reaches_server:
                    real_commit()
                raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

            conn.commit = commit
        return conn

    monkeypatch.setattr(writer, "connect", connect)
    monkeypatch.setattr(branches.Branches, "prepare", prepare)


def test_a_commit_whose_reply_was_lost_is_confirmed_by_its_decision_row(
        db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _main_commit(monkeypatch, reaches_server=True)
    ids = list(range(200, 400))
    events = _write(db, {"table": table, "load_method": "load_data"}, people(ids))
    assert _events(events, "mysql.write.commit_confirmed")
    assert run_sql(db, f"SELECT COUNT(*), SUM(id) FROM `{table}`") == [(201, 1 + sum(ids))]
    assert _prepared(db) == [] and _decisions(db) == []


def test_a_commit_that_never_reached_the_server_rolls_every_branch_back(
        db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = rows(db, table)
    _main_commit(monkeypatch, reaches_server=False)
    with pytest.raises(DriverError, match="Lost connection"):
        write(db, {"table": table, "load_method": "load_data"}, people(list(range(200, 400))))
    assert rows(db, table) == before
    assert _prepared(db) == [] and _decisions(db) == []


def test_a_failed_second_phase_is_settled_and_the_write_succeeds(
        db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import osiris.drivers.mysql.branches as branches

    real, calls = branches._finish, []

    def finish(cur, action, gtrid, branch):
        calls.append(action)
        if len(calls) == 1:
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        real(cur, action, gtrid, branch)

    monkeypatch.setattr(branches, "_finish", finish)
    ids = list(range(300, 500))
    write(db, {"table": table, "load_method": "load_data"}, people(ids))
    assert calls == ["commit", "commit"]  # the lost one, then settled from a fresh connection
    assert run_sql(db, f"SELECT COUNT(*), SUM(id) FROM `{table}`") == [(201, 1 + sum(ids))]
    assert _prepared(db) == [] and _decisions(db) == []


def test_a_replace_whose_swap_fails_after_the_commit_leaves_no_stage(
        db: dict, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import osiris.drivers.mysql.writer as writer

    real = writer.ApplyMode._sql

    def sql(self, statement: str) -> None:
        if statement.startswith("RENAME"):
            raise pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")
        real(self, statement)

    monkeypatch.setattr(writer.ApplyMode, "_sql", sql)
    before = rows(db, table)
    with pytest.raises(DriverError, match="1205"):
        write(db, {"table": table, "write_mode": "replace", "load_method": "load_data"}, people(list(range(5, 300))))
    assert rows(db, table) == before
    assert [r for r in run_sql(db, "SHOW TABLES LIKE '%osiris%'") if r[0] != "_osiris_loads"] == []
    assert _prepared(db) == []


def test_binary_xa_ids_of_other_applications_do_not_stop_a_parallel_load(db: dict, table: str) -> None:
    """Java transaction managers use binary XIDs; recovery must skip them, not fail on them."""
    conn = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"])
    with conn.cursor() as cur:
        cur.execute("XA START X'01ff00c3', X'b2', 4660")
        cur.execute(f"INSERT INTO `{table}` VALUES (830, 'java', 1)")
        cur.execute("XA END X'01ff00c3', X'b2', 4660")
        cur.execute("XA PREPARE X'01ff00c3', X'b2', 4660")
    conn.close()
    try:
        events = _write(db, {"table": table, "load_method": "load_data"}, people([930, 931]))
        assert _events(events, "mysql.write.start")[0]["connections"] == 2
        assert _events(events, "mysql.write.recovered") == []
    finally:
        run_sql(db, "XA ROLLBACK X'01ff00c3', X'b2', 4660")


def test_recovery_reads_only_well_formed_ids_of_its_own_table() -> None:
    from osiris.drivers.mysql.branches import _ours

    table_sql = "`test`.`_osiris_loads`"
    good = load_id(42, table_sql, "0123456789abcdef")
    assert _ours((1, len(good), 1, (good + "1").encode()), table_sql) == (good, 1)
    assert _ours((1, len(good), 1, good + "1"), table_sql) == (good, 1)
    for row in [
        (1, 4, 1, b"\x01\xff\x00\xc3\xb2"),                                  # binary
        (4660, len(good), 1, (good + "1").encode()),                         # another format id
        (1, len(good), 1, (good + "\xb2").encode("latin-1")),                # a non-ASCII branch
        (1, len(good), 2, (good + "01").encode()),                           # not a branch we make
        (1, len(good) + 1, 1, (good + "'" + "1").encode()),                  # a quote in the id
        (1, len(good), 1, (load_id(42, "`other`.`_osiris_loads`", "0123456789abcdef") + "1").encode()),
    ]:
        assert _ours(row, table_sql) is None, row


@pytest.mark.parametrize("value", [0, 9, True, "2", 1.5])
def test_load_connections_must_be_a_whole_number_from_1_to_8(db: dict, table: str, value) -> None:
    with pytest.raises(DriverError, match="load_connections"):
        write(db, {"table": table, "load_method": "load_data", "load_connections": value}, people([5]))
