"""filesystem.csv_writer and parquet_writer: formats, determinism and atomicity."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.files.csv_writer import CsvWriter
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.driver import Cancelled, DriverError, Writer
from osiris.runtime.testing import RecordingContext
from tests.support.privileges import run_unprivileged

WRITERS = {"csv": CsvWriter, "parquet": ParquetWriter}

PEOPLE = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": pa.array(["Zoë", 'say "hi"', None], pa.string()),
        "note": pa.array(["a,b", "", "line\nbreak"], pa.string()),
    }
)


def write(kind: str, tmp_path: Path, data: pa.Table | pa.RecordBatchReader, **config):
    ctx = RecordingContext(
        config=config, work_dir=tmp_path, mode="write", component=f"filesystem.{kind}_writer"
    )
    reader = data.to_reader(max_chunksize=2) if isinstance(data, pa.Table) else data
    return WRITERS[kind]().write(ctx, reader), ctx


def test_protocol() -> None:
    assert isinstance(CsvWriter(), Writer) and isinstance(ParquetWriter(), Writer)


def test_csv_default_format(tmp_path: Path) -> None:
    result, ctx = write("csv", tmp_path, PEOPLE, path="./out/people.csv")
    text = (tmp_path / "out/people.csv").read_bytes().decode()
    assert text == 'id,name,note\n1,"Zoë","a,b"\n2,"say ""hi""",""\n3,,"line\nbreak"\n'
    assert result.rows == 3 and result.target == "./out/people.csv"
    assert result.bytes == (tmp_path / "out/people.csv").stat().st_size
    assert [rows for rows, _ in ctx.progress_calls][:2] == [2, 3]


def test_csv_options(tmp_path: Path) -> None:
    write("csv", tmp_path, PEOPLE, path="a.csv", newline="crlf", header=False, delimiter=";", quoting="all")
    assert (tmp_path / "a.csv").read_bytes() == (
        b'"1";"Zo\xc3\xab";"a,b"\r\n"2";"say ""hi""";""\r\n"3";;"line\nbreak"\r\n'
    )
    write("csv", tmp_path, PEOPLE, path="b.csv", quotechar="'", delimiter="|")
    assert (
        tmp_path / "b.csv"
    ).read_text() == "id|name|note\n1|'Zoë'|'a,b'\n2|'say \"hi\"'|''\n3||'line\nbreak'\n"
    clean = PEOPLE.select(["id"])
    write("csv", tmp_path, clean, path="c.csv", quoting="none")
    assert (tmp_path / "c.csv").read_text() == "id\n1\n2\n3\n"
    with pytest.raises(DriverError, match="quoting is none"):
        write("csv", tmp_path, PEOPLE, path="d.csv", quoting="none")
    assert not (tmp_path / "d.csv").exists()


def test_csv_encodings(tmp_path: Path) -> None:
    table = pa.table({"city": ["Zürich", "Malmö"]})
    write("csv", tmp_path, table, path="l1.csv", encoding="latin-1")
    assert (tmp_path / "l1.csv").read_bytes() == 'city\n"Zürich"\n"Malmö"\n'.encode("latin-1")
    write("csv", tmp_path, table, path="u16.csv", encoding="utf-16")
    assert (tmp_path / "u16.csv").read_bytes().decode("utf-16") == 'city\n"Zürich"\n"Malmö"\n'
    with pytest.raises(DriverError, match=r"cannot write '€' \(U\+20AC\) in the latin-1 encoding"):
        write("csv", tmp_path, pa.table({"p": ["5 €"]}), path="euro.csv", encoding="latin-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l1.csv", "u16.csv"]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_csv_compression_is_deterministic(tmp_path: Path, compression: str) -> None:
    write("csv", tmp_path, PEOPLE, path="one.csv.x", compression=compression)
    write("csv", tmp_path, PEOPLE, path="two.csv.x", compression=compression)
    one, two = (tmp_path / "one.csv.x").read_bytes(), (tmp_path / "two.csv.x").read_bytes()
    assert one == two
    stream = pa.input_stream(str(tmp_path / "one.csv.x"), compression=compression)
    assert stream.read().decode().startswith("id,name,note\n1,")
    if compression == "gzip":
        assert gzip.decompress(one).decode().count("\n") == 5


def test_csv_rejects_nested_columns(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="column 'tags' has type list<item: string>") as caught:
        write("csv", tmp_path, pa.table({"tags": [["a"]]}), path="n.csv")
    assert "to_json" in caught.value.hint


def test_parquet_roundtrip_and_row_groups(tmp_path: Path) -> None:
    table = pa.table({"i": pa.array(range(2500), pa.int64()), "s": [f"v{i % 7}" for i in range(2500)]})
    batches = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333))
    result, _ = write("parquet", tmp_path, batches, path="t.parquet", row_group_size=1000)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]
    assert meta.created_by.startswith("parquet-cpp-arrow version")
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
    assert result.rows == 2500 and result.bytes == (tmp_path / "t.parquet").stat().st_size


def test_parquet_bytes_do_not_depend_on_upstream_batching(tmp_path: Path) -> None:
    """With a budget small enough to cut groups short, any batching gives the same file."""
    rows = 200_000
    table = pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "text": [f"row {i} " + "x" * (i % 50) for i in range(rows)],
        "maybe": pa.array([None if i % 3 else i * 0.5 for i in range(rows)], pa.float64()),
    })
    files = []
    for chunk in (999, 4096, 65_536, rows):
        name = f"t{chunk}.parquet"
        ctx = RecordingContext(config={"path": name}, work_dir=tmp_path, mode="write",
                               component="filesystem.parquet_writer", memory_limit_bytes=8 * 4 * 1024 * 1024)
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=chunk))
        ParquetWriter().write(ctx, reader)
        files.append((tmp_path / name).read_bytes())
    assert all(data == files[0] for data in files[1:])
    meta = pq.ParquetFile(tmp_path / "t999.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert len(sizes) > 1 and len(set(sizes[:-1])) == 1 and sizes[-1] <= sizes[0] < rows
    assert pq.read_table(tmp_path / "t999.parquet").equals(table)


@pytest.mark.parametrize("codec", ["none", "snappy", "gzip", "zstd", "lz4", "brotli"])
def test_parquet_codecs_are_deterministic(tmp_path: Path, codec: str) -> None:
    write("parquet", tmp_path, PEOPLE, path="a.parquet", compression=codec)
    write("parquet", tmp_path, PEOPLE, path="b.parquet", compression=codec)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert pq.read_table(tmp_path / "a.parquet").equals(PEOPLE)


def test_parquet_bad_options(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="unknown compression 'zip'"):
        write("parquet", tmp_path, PEOPLE, path="x.parquet", compression="zip")
    assert list(tmp_path.iterdir()) == []


def _failing_stream(good_batches: int) -> pa.RecordBatchReader:
    batch = PEOPLE.to_batches()[0]

    def batches() -> Iterator[pa.RecordBatch]:
        for _ in range(good_batches):
            yield batch
        raise DriverError("upstream broke")

    return pa.RecordBatchReader.from_batches(PEOPLE.schema, batches())


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_failure_midway_keeps_previous_file(tmp_path: Path, kind: str) -> None:
    write(kind, tmp_path, PEOPLE, path=f"out.{kind}")
    before = (tmp_path / f"out.{kind}").read_bytes()
    with pytest.raises(DriverError, match="upstream broke"):
        write(kind, tmp_path, _failing_stream(3), path=f"out.{kind}")
    assert (tmp_path / f"out.{kind}").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{kind}"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_cancel_midway_keeps_previous_file(tmp_path: Path, kind: str) -> None:
    write(kind, tmp_path, PEOPLE, path=f"out.{kind}")
    before = (tmp_path / f"out.{kind}").read_bytes()
    ctx = RecordingContext(config={"path": f"out.{kind}"}, work_dir=tmp_path, mode="write")

    def batches() -> Iterator[pa.RecordBatch]:
        yield PEOPLE.to_batches()[0]
        ctx.cancelled = True
        yield PEOPLE.to_batches()[0]

    with pytest.raises(Cancelled):
        WRITERS[kind]().write(ctx, pa.RecordBatchReader.from_batches(PEOPLE.schema, batches()))
    assert (tmp_path / f"out.{kind}").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{kind}"]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_overwrite_false(tmp_path: Path, kind: str) -> None:
    write(kind, tmp_path, PEOPLE, path=f"out.{kind}")
    with pytest.raises(DriverError, match="already exists"):
        write(kind, tmp_path, PEOPLE, path=f"out.{kind}", overwrite=False)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_read_only_directory(tmp_path: Path, kind: str) -> None:
    """A directory the writer may not write to: DriverError, nothing written, old file intact.

    As root, permission bits do not bind, so the writer runs in a child process without the
    capabilities that override them (util-linux `setpriv`).
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / f"out.{kind}").write_text("previous")
    locked.chmod(0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(DriverError, match=f"permission denied writing locked/out.{kind}"):
                write(kind, tmp_path, PEOPLE, path=f"locked/out.{kind}")
        else:
            done = run_unprivileged(
                f"""
                import pyarrow as pa
                from pathlib import Path
                from osiris.runtime.driver import DriverError
                from osiris.runtime.testing import RecordingContext
                from osiris.drivers.files.{kind}_writer import {WRITERS[kind].__name__} as W
                config = {{"path": "locked/out.{kind}"}}
                ctx = RecordingContext(config=config, work_dir=Path({str(tmp_path)!r}))
                try:
                    W().write(ctx, pa.table({{"a": [1]}}).to_reader())
                except DriverError as error:
                    print("DriverError:", error)
                """
            )
            assert done.stdout.strip() == f"DriverError: permission denied writing locked/out.{kind}", (
                done.stderr
            )
    finally:
        locked.chmod(0o755)
    assert [p.name for p in locked.iterdir()] == [f"out.{kind}"]
    assert (locked / f"out.{kind}").read_text() == "previous"


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_target_is_a_directory(tmp_path: Path, kind: str) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(DriverError, match="it is a directory"):
        write(kind, tmp_path, PEOPLE, path="dir")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_empty_stream_writes_schema_only(tmp_path: Path, kind: str) -> None:
    empty = pa.RecordBatchReader.from_batches(PEOPLE.schema, iter([]))
    result, _ = write(kind, tmp_path, empty, path=f"e.{kind}")
    assert result.rows == 0
    if kind == "csv":
        assert (tmp_path / "e.csv").read_text() == "id,name,note\n"
    else:
        assert pq.read_table(tmp_path / "e.parquet").schema.equals(PEOPLE.schema)


def test_csv_zoned_timestamps_are_written_in_utc(tmp_path: Path) -> None:
    table = pa.table(
        {
            "prague": pa.array([1_719_828_000_000, None], pa.timestamp("ms", tz="Europe/Prague")),
            "utc": pa.array([0, 1], pa.timestamp("s", tz="UTC")),
            "naive": pa.array([0, None], pa.timestamp("us")),
        }
    )
    write("csv", tmp_path, table, path="ts.csv")
    assert (tmp_path / "ts.csv").read_text() == (
        "prague,utc,naive\n"
        '"2024-07-01 10:00:00.000Z","1970-01-01 00:00:00Z",1970-01-01 00:00:00.000000\n'
        ',"1970-01-01 00:00:01Z",\n'
    )
