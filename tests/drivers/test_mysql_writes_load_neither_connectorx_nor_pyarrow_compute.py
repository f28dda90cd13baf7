"""A MySQL write loads neither connectorx (only the bulk and cxstream reads use it) nor
pyarrow.compute (its ~300 generated wrappers): both cost ~30 ms each in the writer's thread
before its first row (docs/performance.md). The rendering calls Arrow's kernels directly, and
every column kind that needs preparing goes through it here, with both load methods and the
escaped path (a tab in a text value), against the real MariaDB; the rows read back are checked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.mysql

SCRIPT = r"""
import datetime as dt, json, sys
import pyarrow as pa
from osiris.drivers.mysql.writer import MySQLWriter
from osiris.runtime.driver import ResolvedConnection
from osiris.runtime.testing import RecordingContext

db = json.loads(sys.argv[1])
fields = {k: db[k] for k in ("host", "port", "user", "password", "database")}
table = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "flag": pa.array([True, False, None]),
    "ratio": pa.array([1.5, None, -2.25], pa.float32()),
    "at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 123456), None, dt.datetime(2000, 1, 1)], pa.timestamp("ns")),
    "whole": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None, None], pa.timestamp("us")),
    "day": pa.array([dt.datetime(2024, 5, 6), None, dt.datetime(1999, 12, 31)], pa.date64()),
    "blob": pa.array([b"\x00\xff", None, b""], pa.binary()),
    "tag": pa.DictionaryArray.from_arrays(pa.array([0, 1, None], pa.int32()), pa.array(["a", "b"])),
    "text": pa.array(["tab\there", "back\\slash 'q'", None], pa.large_string()),
})
for method in ("load_data", "insert"):
    name = f"t_{method}"
    ctx = RecordingContext(config={"table": name, "write_mode": "replace", "create_if_missing": True,
                                   "load_method": method},
                           connection=ResolvedConnection("mysql", "test", fields, frozenset({"password"})),
                           component="mysql.writer", mode="write")
    MySQLWriter().write(ctx, table.to_reader())
print(json.dumps({"connectorx": "connectorx" in sys.modules, "pyarrow.compute": "pyarrow.compute" in sys.modules}))
"""


def test_a_write_of_every_prepared_kind_loads_neither(mysql_db: dict) -> None:
    import pymysql

    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(mysql_db)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"connectorx": False, "pyarrow.compute": False}
    conn = pymysql.connect(host=mysql_db["host"], port=mysql_db["port"], user=mysql_db["user"],
                           password=mysql_db["password"], database=mysql_db["database"], charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            rows = {}
            for method in ("load_data", "insert"):
                cur.execute(f"SELECT id, flag, ratio, `at`, whole, `day`, HEX(`blob`), tag, `text` FROM t_{method} ORDER BY id")
                rows[method] = cur.fetchall()
    finally:
        conn.close()
    assert rows["load_data"] == rows["insert"]
    first, second, third = rows["load_data"]
    assert first[1:4] == (1, 1.5, first[3]) and str(first[3]) == "2024-01-02 03:04:05.123456"
    assert str(first[4]) == "2024-01-02 03:04:05" and str(first[5]) == "2024-05-06"
    assert first[6:] == ("00FF", "a", "tab\there")
    assert second[1:] == (0, None, None, None, None, None, "b", "back\\slash 'q'")
    assert third[1:3] == (None, -2.25) and third[6:8] == ("", None)
