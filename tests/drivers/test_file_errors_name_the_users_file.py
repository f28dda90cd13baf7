"""File and temp-file errors surface as DriverErrors naming the user's file, never raw OSErrors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.supabase.rest import spool
from osiris.runtime.driver import DriverError
from osiris.runtime.testing import RecordingContext
from tests.support.myrows import no_native  # noqa: F401 - a fixture
from tests.support.privileges import run_unprivileged


def test_corrupt_gzip_in_discovered_directory(tmp_path: Path) -> None:
    """Like a corrupt Parquet file: a DriverError naming the file, not `zlib inflate failed`."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "good.csv").write_text("a,b\n1,2\n")
    (lake / "bad.csv.gz").write_bytes(b"definitely not gzip data\n" * 10)
    with pytest.raises(DriverError, match=r"^cannot read bad\.csv\.gz: .*zlib") as caught:
        CsvExtractor().discover(None, path=str(lake))
    assert str(tmp_path) not in str(caught.value)
    truncated = gzip.compress(b"a,b\n" + b"1,2\n" * 100_000)
    (lake / "bad.csv.gz").write_bytes(truncated[:20] + bytes(200) + truncated[220:])
    with pytest.raises(DriverError, match=r"^cannot read bad\.csv\.gz"):
        CsvExtractor().discover(None, path=str(lake))


def test_unreadable_csv(tmp_path: Path) -> None:
    """Permission denied opening the file goes through translate_read_error.

    As root, permission bits do not bind, so the extractor runs in a child process without
    the capabilities that override them (util-linux `setpriv`), as in test_files_writers.
    """
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (tmp_path / "secret.csv").chmod(0o000)
    expected = "DriverError: permission denied reading secret.csv"
    if os.geteuid() != 0:
        ctx = RecordingContext(config={"path": "secret.csv"}, work_dir=tmp_path)
        with pytest.raises(DriverError, match="permission denied reading secret.csv"):
            CsvExtractor().extract(ctx).read_all()
        return
    done = run_unprivileged(
        f"""
        from pathlib import Path
        from osiris.runtime.driver import DriverError
        from osiris.runtime.testing import RecordingContext
        from osiris.drivers.files.csv_extractor import CsvExtractor
        ctx = RecordingContext(config={{"path": "secret.csv"}}, work_dir=Path({str(tmp_path)!r}))
        try:
            CsvExtractor().extract(ctx).read_all()
        except DriverError as error:
            print("DriverError:", error)
        """
    )
    assert done.stdout.strip() == expected, done.stderr


def test_supabase_spool_errors(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2]})
    with pytest.raises(DriverError, match="cannot write the REST write's spool file"):
        spool(table.to_reader(), tmp_path / "missing" / "s.arrow", lambda: None)

    def broken() -> object:
        yield from table.to_batches()
        raise OSError("upstream read failed")

    path = tmp_path / "s.arrow"
    with pytest.raises(OSError, match="upstream read failed"):
        spool(pa.RecordBatchReader.from_batches(table.schema, broken()), path, lambda: None)
    assert not path.exists()
    assert spool(table.to_reader(), path, lambda: None) == 2


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_mysql_stream_fallback_reuses_the_planned_probe(mysql_db: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """auto on a table without an integer key: plan_bulk's column probe is the stream path's too."""
    import pymysql

    from osiris.drivers.mysql import extractor
    from osiris.drivers.mysql.extractor import MySQLExtractor
    from osiris.runtime.driver import ResolvedConnection

    admin = pymysql.connect(**mysql_db, autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE nokey (a VARCHAR(5), f FLOAT)")
            cur.execute("INSERT INTO nokey VALUES ('x', 1.5), ('y', 2.5)")
    finally:
        admin.close()

    def no_second_probe(*_args: object) -> None:
        raise AssertionError("the columns were probed again")

    monkeypatch.setattr(extractor, "probe", no_second_probe)
    fields = {k: mysql_db[k] for k in ("host", "port", "user", "password", "database")}
    connection = ResolvedConnection("mysql", "test", fields, frozenset({"password"}))
    ctx = RecordingContext(config={"table": "nokey"}, connection=connection, component="mysql.extractor")
    table = MySQLExtractor().extract(ctx).read_all()
    assert table.to_pydict() == {"a": ["x", "y"], "f": [1.5, 2.5]}
    assert table.schema.field("f").type == pa.float32()  # the FLOAT-as-DOUBLE cast used the columns
    assert ("mysql.extract.path", {"path": "stream", "reason": "the native MySQL decoder is not built (no C "
            "compiler at install time); the table has no primary key (set `partition_on` to an integer column)"}) \
        in ctx.events
