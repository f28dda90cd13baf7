"""osiris.drivers.common: Arrow type names, atomic output and path resolution."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.common import ArrowTypeError, atomic_path, os_error, parse_arrow_type, parse_schema_overrides
from osiris.drivers.common.atomic import TEMP_SUFFIX
from osiris.drivers.common.paths import missing_file_error, resolve_config_path
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection
from osiris.runtime.tempfiles import owned_temp_name
from osiris.runtime.testing import RecordingContext

TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint64(),
    pa.float32(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.date32(),
    pa.date64(),
    pa.time64("us"),
    pa.timestamp("s"),
    pa.timestamp("ms"),
    pa.timestamp("us"),
    pa.timestamp("ns"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ns", tz="Europe/Prague"),
    pa.timestamp("us", tz="+01:00"),
    pa.decimal128(12, 2),
    pa.decimal128(38, 10),
    pa.decimal256(50, 5),
    pa.duration("ms"),
]


@pytest.mark.parametrize("arrow_type", TYPES, ids=str)
def test_printed_type_names_parse_back(arrow_type: pa.DataType) -> None:
    assert parse_arrow_type(str(arrow_type)) == arrow_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("decimal128(12,2)", pa.decimal128(12, 2)),
        ("decimal(12, 2)", pa.decimal128(12, 2)),
        ("decimal(40,2)", pa.decimal256(40, 2)),
        ("int64", pa.int64()),
        ("date32", pa.date32()),
        ("date", pa.date32()),
        ("timestamp[us, tz=UTC]", pa.timestamp("us", tz="UTC")),
        ("timestamp[ms,tz=America/New_York]", pa.timestamp("ms", tz="America/New_York")),
        ("TIMESTAMP[US]", pa.timestamp("us")),
        ("utf8", pa.string()),
        ("boolean", pa.bool_()),
        ("double", pa.float64()),
    ],
)
def test_spellings(text: str, expected: pa.DataType) -> None:
    assert parse_arrow_type(text) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("int46", "int64"), ("strnig", "string"), ("timestamp[us, tz=Mars/Olympus]", "timestamp[us, tz=UTC]")],
)
def test_unknown_types_suggest(text: str, suggestion: str) -> None:
    with pytest.raises(ArrowTypeError) as caught:
        parse_arrow_type(text)
    assert caught.value.suggestion == suggestion


def test_bad_decimals() -> None:
    for text in ("decimal128(40,2)", "decimal(5,7)", "decimal(0,0)"):
        with pytest.raises(ArrowTypeError):
            parse_arrow_type(text)


def test_schema_overrides_name_the_column() -> None:
    with pytest.raises(DriverError, match="'amount'") as caught:
        parse_schema_overrides({"id": "int64", "amount": "decimel(12,2)"})
    assert "decimal" in caught.value.hint
    with pytest.raises(DriverError, match="must be a string"):
        parse_schema_overrides({"id": 5})


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target, shown="out.txt") as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".out.txt.")
        temp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), Cancelled("step"), KeyboardInterrupt()])
def test_atomic_path_cleans_up_on_any_failure(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(type(error)):
        with atomic_path(target, shown="out.txt") as temp:
            temp.write_text("partial")
            raise error
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    """A SIGKILLed run leaves its temp file; the next write to that target removes it, and only it."""
    target = tmp_path / "out.csv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live_name = owned_temp_name(target, TEMP_SUFFIX).name  # written by this process: alive
    stale_name = live_name.replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    other_host = f".out.csv.00000000-{dead.pid}-abcd{TEMP_SUFFIX}"
    other_target = owned_temp_name(tmp_path / "other.csv", TEMP_SUFFIX).name
    other_target = other_target.replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    for name in (stale_name, live_name, other_host, other_target):
        (tmp_path / name).write_text("half written")
    with atomic_path(target, shown="out.csv") as temp:
        temp.write_text("new")
    assert target.read_text() == "new"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert stale_name not in left
    assert sorted([live_name, other_host, other_target, "out.csv"]) == left


def test_atomic_path_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(DriverError, match="already exists"):
        with atomic_path(target, shown="out.txt", overwrite=False) as temp:
            temp.write_text("new")
    assert target.read_text() == "old"
    fresh = tmp_path / "fresh.txt"
    with atomic_path(fresh, shown="fresh.txt", overwrite=False) as temp:
        temp.write_text("new")
    assert fresh.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.txt", "out.txt"]


def test_atomic_path_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="directory does not exist"):
        with atomic_path(tmp_path / "a" / "b.txt", shown="a/b.txt", create_dirs=False):
            pass
    with atomic_path(tmp_path / "a" / "b.txt", shown="a/b.txt") as temp:
        temp.write_text("x")
    assert (tmp_path / "a" / "b.txt").read_text() == "x"


def test_paths_resolve_against_base_dir(tmp_path: Path) -> None:
    ctx = RecordingContext(config={}, work_dir=tmp_path)
    assert resolve_config_path(ctx, "data/x.csv") == tmp_path / "data/x.csv"
    assert resolve_config_path(ctx, str(tmp_path / "abs/x.csv")) == tmp_path / "abs/x.csv"
    with pytest.raises(DriverError, match=r"path '/abs/x.csv' is outside the project \[OML083\]"):
        resolve_config_path(ctx, "/abs/x.csv")  # the path policy: tests/security/test_paths_stay_in_project.py
    ctx = RecordingContext(config={}, work_dir=tmp_path, path_roots=("/abs",))
    assert resolve_config_path(ctx, "/abs/x.csv") == Path("/abs/x.csv")
    conn = ResolvedConnection(family="filesystem", alias="lake", fields={"base_dir": "lake"})
    ctx = RecordingContext(config={}, work_dir=tmp_path, connection=conn)
    assert resolve_config_path(ctx, "x.csv") == tmp_path / "lake" / "x.csv"
    conn = ResolvedConnection(family="filesystem", alias="lake", fields={"base_dir": str(tmp_path / "abs")})
    ctx = RecordingContext(config={}, work_dir=Path("/nowhere"), connection=conn)
    assert resolve_config_path(ctx, "x.csv") == tmp_path / "abs" / "x.csv"


def test_missing_file_suggests_siblings(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("a\n")
    error = missing_file_error(None, "data/order.csv", tmp_path / "data" / "order.csv")
    assert str(error) == "file not found: data/order.csv"
    assert "did you mean 'data/orders.csv'?" in error.hint
    assert str(tmp_path) not in error.hint
    error = missing_file_error(None, "nope/x.csv", tmp_path / "nope" / "x.csv")
    assert "'nope' does not exist" in error.hint


def test_os_errors_speak_about_the_users_path() -> None:
    full = os_error(OSError(errno.ENOSPC, "No space left on device"), "out/x.csv")
    assert str(full) == "no space left on the device while writing out/x.csv"
    arrow_style = os_error(
        OSError("Failed to open local file '/abs/.x.tmp'. Detail: [errno 13] Permission denied"), "x"
    )
    assert str(arrow_style) == "permission denied writing x"
    assert (
        str(os_error(OSError(errno.EROFS, "Read-only file system"), "x"))
        == "cannot write x: the file system is read-only"
    )
