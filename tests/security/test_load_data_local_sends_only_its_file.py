"""LOAD DATA LOCAL sends only the file Osiris generated for that load.

Attack: a rogue MySQL server answers a query with a LOCAL INFILE request (0xFB + a file
name of its choosing); pymysql, with `local_infile=True`, sends that file. mysql.writer
(`load_method: auto`) enabled it for its whole connection. Now every connection answers
file requests only during the LOAD DATA statement that generated the file, only with that
file, once; anything else aborts with `LocalFileRefused`. Connections that do not load do
not even advertise LOCAL INFILE.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pymysql
import pytest

from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.mysql.infile import LocalFileRefused
from osiris.drivers.mysql.writer import MySQLWriter
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext
from tests.support.fake_mysql import FakeMySQL, fake_mysql, writer_script

SECRET_TEXT = "osiris-local-secret-4471"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "private.txt"
    path.write_text(SECRET_TEXT)
    return path


def _connection(host: str, port: int, **fields: object) -> ResolvedConnection:
    return ResolvedConnection("mysql", "rogue", {"host": host, "port": port, "user": "loader", "password": "pw",
                                                "database": "shop", "ssl": {"mode": "disabled"}, **fields},
                              frozenset({"password"}))


def _write(fake: FakeMySQL, tmp_path: Path, **config: object) -> RecordingContext:
    ctx = RecordingContext(config={"table": "t", **config}, connection=_connection(fake.host, fake.port),
                           temp_dir=tmp_path / "step")
    ctx.temp_dir.mkdir(exist_ok=True)
    data = pa.table({"id": [1, 2], "name": ["a", "b"]})
    MySQLWriter().write(ctx, data.to_reader())
    return ctx


def _at(fragment: str, name: Path | str) -> Callable[[str], str | None]:
    return lambda query: str(name) if fragment in query else None


def test_the_attack_is_real_for_a_plain_pymysql_connection(secret_file: Path) -> None:
    """Control: the rogue server does receive the file from an unguarded client."""
    with fake_mysql(writer_script(_at("SELECT 1", secret_file))) as fake:
        conn = pymysql.connect(host=fake.host, port=fake.port, user="u", password="pw", local_infile=True)
        conn.cursor().execute("SELECT 1")
        conn.close()
    assert SECRET_TEXT.encode() in fake.file_bytes


@pytest.mark.parametrize("moment", ["LOAD DATA LOCAL INFILE", "information_schema.COLUMNS", "SET time_zone",
                                    "@@GLOBAL.local_infile", "BEGIN", "COMMIT"])
def test_the_writer_never_sends_a_file_the_server_names(moment: str, secret_file: Path, tmp_path: Path) -> None:
    with fake_mysql(writer_script(_at(moment, secret_file))) as fake:
        with pytest.raises(DriverError) as failure:
            _write(fake, tmp_path, load_method="auto")
    assert fake.connections and fake.connections[0].local_infile  # the loading connection may load...
    assert fake.file_bytes == b""  # ...but sent nothing for a file it did not generate
    if moment not in ("BEGIN", "COMMIT"):  # pymysql reads those answers as OK packets: out of sync
        assert isinstance(failure.value, LocalFileRefused)
        assert str(secret_file) in str(failure.value) and "nothing was sent" in str(failure.value)
    assert list((tmp_path / "step").iterdir()) == []  # the generated CSV is gone too


def test_a_request_for_another_generated_file_is_refused(tmp_path: Path) -> None:
    """The server may not pick a sibling chunk or an older load's file either: only the
    exact file of the statement running."""
    other = tmp_path / "step" / "mysql-load-0000.1.csv"
    other.parent.mkdir()
    other.write_text("1,leaked\n")
    with fake_mysql(writer_script(_at("LOAD DATA", other))) as fake, pytest.raises(LocalFileRefused):
        _write(fake, tmp_path, load_method="load_data")
    assert fake.file_bytes == b""


def test_the_file_of_the_statement_is_sent(tmp_path: Path) -> None:
    """Control: the server asking for the file the statement names gets exactly that file."""
    def own_file(query: str) -> str | None:
        if "LOAD DATA LOCAL INFILE '" in query:
            return query.split("LOAD DATA LOCAL INFILE '", 1)[1].split("'", 1)[0]
        return None

    with fake_mysql(writer_script(own_file)) as fake:
        _write(fake, tmp_path, load_method="load_data")
    assert fake.file_bytes == b"1\ta\n2\tb\n"  # LOAD DATA's own text format, from memory


@pytest.mark.parametrize("use", ["extract", "discover", "health", "insert-writer"])
def test_connections_that_do_not_load_do_not_offer_local_infile(use: str, secret_file: Path, tmp_path: Path) -> None:
    with fake_mysql(writer_script(_at("SELECT", secret_file))) as fake:
        connection = _connection(fake.host, fake.port)
        with pytest.raises(Exception):  # noqa: B017,PT011 - the rogue answers break each use differently
            if use == "extract":
                ctx = RecordingContext(config={"query": "SELECT 1", "fetch_mode": "stream"}, connection=connection)
                MySQLExtractor().extract(ctx).read_all()
            elif use == "discover":
                MySQLExtractor().discover(connection)
            elif use == "health":
                report = MySQLExtractor().health_check(connection)
                raise AssertionError(report.message)
            else:
                _write(fake, tmp_path, load_method="insert")
    assert fake.connections and not any(c.local_infile for c in fake.connections)
    assert fake.file_bytes == b""


@pytest.mark.mysql
def test_the_normal_load_data_path_still_works(mysql_db: dict, tmp_path: Path) -> None:
    admin = pymysql.connect(**mysql_db, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE loaded (id INT PRIMARY KEY, name VARCHAR(20))")
    fields = {**mysql_db, "ssl": {"mode": "disabled"}}
    ctx = RecordingContext(config={"table": "loaded", "load_method": "load_data", "batch_size": 2},
                           connection=ResolvedConnection("mysql", "real", fields, frozenset({"password"})),
                           temp_dir=tmp_path)
    result = MySQLWriter().write(ctx, pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}).to_reader())
    assert result.rows == 3
    assert [f["method"] for name, f in ctx.events if name == "mysql.write.start"] == ["load_data"]
    with admin.cursor() as cur:
        cur.execute("SELECT id, name FROM loaded ORDER BY id")
        assert cur.fetchall() == ((1, "a"), (2, "b"), (3, "c"))
    admin.close()
