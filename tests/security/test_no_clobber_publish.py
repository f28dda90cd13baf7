"""A writer with `overwrite: false` never replaces a file, even one that appears mid-write.

The existence check at the start of a write is not the guarantee (a file can appear while the
data streams); the publish itself must refuse an existing name. Each publish strategy of
runtime.publish is forced in turn (renameat2 RENAME_NOREPLACE, hard link, exclusive
placeholder), and the file appears deterministically: from the input stream while the writer
consumes it, or from a second writer held at a barrier until both have passed the check.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from osiris.drivers.common.atomic import atomic_path
from osiris.drivers.files.csv_writer import CsvWriter
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime import publish as publish_module
from osiris.runtime.driver import DriverError
from osiris.runtime.testing import RecordingContext

THEIRS = b"written by someone else\n"
WRITERS = {"csv": CsvWriter, "parquet": ParquetWriter}


@pytest.fixture(params=["renameat2", "link", "placeholder"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Force one publish strategy; yields the list of strategies actually used."""
    used: list[str] = []
    real_renameat2, real_link = publish_module._renameat2(), os.link
    assert real_renameat2 is not None, "renameat2 is missing from this C library (glibc 2.28+ has it)"

    def renameat2(*args: object) -> int:
        used.append("renameat2")
        return real_renameat2(*args)

    def link(source: Path, target: Path) -> None:
        used.append("link")
        if request.param == "placeholder":
            raise OSError(errno.EPERM, "hard links not supported here")  # what vfat answers
        real_link(source, target)

    def placeholder(temp: Path, target: Path) -> None:
        used.append("placeholder")
        real_placeholder(temp, target)

    real_placeholder = publish_module._replace_own_placeholder
    monkeypatch.setattr(publish_module, "_renameat2", (lambda: renameat2) if request.param == "renameat2" else
                        (lambda: None))
    monkeypatch.setattr(publish_module.os, "link", link)
    monkeypatch.setattr(publish_module, "_replace_own_placeholder", placeholder)
    yield used
    assert used and used[-1] == request.param, f"expected the {request.param} strategy, used {used}"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_a_file_that_appears_during_the_write_is_kept(tmp_path: Path, strategy: list[str]) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(DriverError, match="out.txt already exists and overwrite is false"):
        with atomic_path(target, shown="out.txt", overwrite=False) as temp:
            temp.write_bytes(b"ours\n")
            target.write_bytes(THEIRS)  # after the writer's check, before its publish
    assert target.read_bytes() == THEIRS
    assert _leftovers(tmp_path) == []


def test_a_symlink_that_appears_during_the_write_is_kept(tmp_path: Path, strategy: list[str]) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(DriverError, match="already exists"):
        with atomic_path(target, shown="out.txt", overwrite=False) as temp:
            temp.write_bytes(b"ours\n")
            target.symlink_to(tmp_path / "nowhere")  # dangling: exists() says False, it is still a name
    assert target.is_symlink() and os.readlink(target) == str(tmp_path / "nowhere")


def test_without_a_rival_the_file_is_published(tmp_path: Path, strategy: list[str]) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target, shown="out.txt", overwrite=False) as temp:
        temp.write_bytes(b"ours\n")
    assert target.read_bytes() == b"ours\n"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not the placeholder's 0600
    assert _leftovers(tmp_path) == []


def test_two_writers_racing_for_one_name_one_wins_whole(tmp_path: Path, strategy: list[str]) -> None:
    """Both pass the existence check (a barrier holds them), then both publish: one must lose."""
    target = tmp_path / "out.txt"
    both_checked = threading.Barrier(2, timeout=30)
    outcomes: dict[str, str] = {}

    def writer(name: str) -> None:
        try:
            with atomic_path(target, shown="out.txt", overwrite=False) as temp:
                temp.write_bytes(name.encode() * 1000)
                both_checked.wait()
            outcomes[name] = "published"
        except DriverError as error:
            outcomes[name] = str(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["out.txt already exists and overwrite is false", "published"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "published")
    assert target.read_bytes() == winner.encode() * 1000
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_writer_keeps_a_file_that_appears_while_it_streams(tmp_path: Path, kind: str) -> None:
    """The real writers, with the file created by the input stream between two batches."""
    target = tmp_path / f"out.{kind}"
    schema = pa.schema([("id", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        target.write_bytes(THEIRS)
        yield pa.record_batch([pa.array([3])], schema=schema)

    ctx = RecordingContext(config={"path": f"out.{kind}", "overwrite": False}, work_dir=tmp_path, mode="write",
                           component=f"filesystem.{kind}_writer")
    with pytest.raises(DriverError, match=f"out.{kind} already exists and overwrite is false"):
        WRITERS[kind]().write(ctx, pa.RecordBatchReader.from_batches(schema, batches()))
    assert target.read_bytes() == THEIRS
    assert _leftovers(tmp_path) == []


def test_overwrite_true_still_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target, shown="out.txt", overwrite=True) as temp:
        temp.write_bytes(b"ours\n")
        target.write_bytes(THEIRS)
    assert target.read_bytes() == b"ours\n"


def test_renameat2_unsupported_falls_back_to_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without RENAME_NOREPLACE answers EINVAL: the link strategy takes over."""
    def unsupported(*args: object) -> int:
        ctypes.set_errno(errno.EINVAL)
        return -1

    monkeypatch.setattr(publish_module, "_renameat2", lambda: unsupported)
    target = tmp_path / "out.txt"
    with pytest.raises(DriverError, match="already exists"):
        with atomic_path(target, shown="out.txt", overwrite=False) as temp:
            temp.write_bytes(b"ours\n")
            target.write_bytes(THEIRS)
    assert target.read_bytes() == THEIRS
    fresh = tmp_path / "fresh.txt"
    with atomic_path(fresh, shown="fresh.txt", overwrite=False) as temp:
        temp.write_bytes(b"ours\n")
    assert fresh.read_bytes() == b"ours\n" and _leftovers(tmp_path) == []


def test_other_publish_failures_are_reported_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object) -> int:
        ctypes.set_errno(errno.EACCES)
        return -1

    monkeypatch.setattr(publish_module, "_renameat2", lambda: denied)
    with pytest.raises(DriverError, match="permission denied writing out.txt"):
        with atomic_path(tmp_path / "out.txt", shown="out.txt", overwrite=False) as temp:
            temp.write_bytes(b"ours\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_renameat2_reads_like_a_failed_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object) -> int:
        ctypes.set_errno(errno.EACCES)
        return -1

    monkeypatch.setattr(publish_module, "_renameat2", lambda: denied)
    temp, target = tmp_path / "temp", tmp_path / "out.txt"
    temp.write_bytes(b"ours\n")
    with pytest.raises(PermissionError) as caught:
        publish_module.publish(temp, target, overwrite=False)
    assert (caught.value.errno, caught.value.strerror, caught.value.filename) == (
        errno.EACCES, os.strerror(errno.EACCES), str(target))
    assert temp.read_bytes() == b"ours\n" and not target.exists()


def test_the_placeholder_is_private_and_never_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without hard links, an O_EXCL placeholder holds the name: 0600 while it is empty, and
    removed if the final rename fails (the rename's own error is the one reported)."""
    def no_hard_links(*args: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(publish_module, "_renameat2", lambda: None)
    monkeypatch.setattr(publish_module.os, "link", no_hard_links)
    real_replace = os.replace
    seen: list[int] = []

    def replace(source: Path, target: Path) -> None:
        seen.append(Path(target).stat().st_mode & 0o777)
        real_replace(source, target)

    monkeypatch.setattr(publish_module.os, "replace", replace)
    temp, target = tmp_path / "temp", tmp_path / "out.txt"
    temp.write_bytes(b"ours\n")
    publish_module.publish(temp, target, overwrite=False)
    assert seen == [0o600] and target.read_bytes() == b"ours\n"

    def failing(source: Path, target: Path) -> None:
        Path(target).unlink()  # even when the placeholder is already gone
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(publish_module.os, "replace", failing)
    temp.write_bytes(b"ours\n")
    fresh = tmp_path / "fresh.txt"
    with pytest.raises(OSError) as caught:
        publish_module.publish(temp, fresh, overwrite=False)
    assert caught.value.errno == errno.EIO and not fresh.exists() and temp.exists()

    def failing_keeps(source: Path, target: Path) -> None:
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(publish_module.os, "replace", failing_keeps)
    with pytest.raises(OSError, match="input/output error"):
        publish_module.publish(temp, fresh, overwrite=False)
    assert not fresh.exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
