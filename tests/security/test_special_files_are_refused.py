"""Devices, FIFOs and sockets given as input are refused at once (OML014), never read or waited on.

`omlc check /dev/zero` read forever and a FIFO blocked in open(). Every command that reads an
OML file or a connections file now stats it first, opens it non-blocking and checks the opened
descriptor again (oml/source.py). Each test runs the real command in a subprocess with a
timeout, so a hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from osiris.oml.source import InputError, read_bytes
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(120)

PIPELINE = ('oml_version: "0.1.0"\nname: special\nsteps:\n  - id: extract\n'
            "    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n")


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO nobody writes to, a listening Unix socket, /dev/zero and /dev/null."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.yaml"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    try:
        yield {"fifo": fifo, "socket": sock_path, "zero": Path("/dev/zero"), "null": Path("/dev/null")}
    finally:
        server.close()


KINDS = {"fifo": "a named pipe (FIFO)", "socket": "a socket", "zero": "a character device",
         "null": "a character device"}


def _run(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", module, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [["check"], ["compile", "--out", "build"], ["fmt"], ["fmt", "--check"],
                                     ["graph"]])
def test_omlc_refuses_a_special_file_as_the_pipeline(specials: dict[str, Path], tmp_path: Path,
                                                    kind: str, command: list[str]) -> None:
    done = _run("osiris.cli.omlc", command[0], str(specials[kind]), *command[1:], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"error[OML014]: {specials[kind]} is {KINDS[kind]}, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "build").exists()


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_osiris_run_refuses_a_special_file_as_the_pipeline(specials: dict[str, Path], tmp_path: Path,
                                                           kind: str) -> None:
    done = _run("osiris.cli.osiris", "run", str(specials[kind]), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "error[OML014]" in done.stderr


@pytest.mark.parametrize("kind", ["fifo", "zero", "socket"])
def test_a_special_connections_file_is_refused_everywhere(specials: dict[str, Path], tmp_path: Path,
                                                         kind: str) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    given = str(specials[kind])
    checked = _run("osiris.cli.omlc", "check", "p.yaml", "--connections", given, cwd=tmp_path)
    assert checked.returncode == 1 and f"{given}:1:1: error[OML014]" in checked.stderr, checked.stderr
    listed = _run("osiris.cli.osiris", "connections", "list", "--connections", given, cwd=tmp_path)
    assert listed.returncode == 1 and "OML014" in listed.stderr, listed.stderr
    ran = _run("osiris.cli.osiris", "run", "p.yaml", "--connections", given, cwd=tmp_path)
    assert ran.returncode == 1 and "error[OML014]" in ran.stderr, ran.stderr


def test_a_fifo_in_a_manifest_directory_is_refused(tmp_path: Path) -> None:
    """`osiris run --manifest DIR`: the manifest's files are read the same way (D's verifier)."""
    (tmp_path / "build").mkdir()
    os.mkfifo(tmp_path / "build" / "manifest.yaml")
    (tmp_path / "build" / "meta.json").write_text("{}", encoding="utf-8")
    done = _run("osiris.cli.osiris", "run", "--manifest", "build", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "build/manifest.yaml is not a regular file" in done.stderr


def test_a_fifo_in_place_of_the_default_connections_file_is_refused_not_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "osiris_connections.yaml")
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    done = _run("osiris.cli.omlc", "check", "p.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "osiris_connections.yaml:1:1: error[OML014]" in done.stderr


@pytest.mark.timeout(10)
def test_a_fifo_swapped_in_after_the_stat_cannot_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: stat saw a regular file, open gets a FIFO. The open is non-blocking and the
    opened descriptor is checked again, so this returns at once (the pytest timeout guards it)."""
    fifo = tmp_path / "swapped.yaml"
    os.mkfifo(fifo)
    regular = os.stat(REPO / "pyproject.toml")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: regular if Path(path) == fifo else real_stat(path, *a, **k))
    assert stat.S_ISREG(os.stat(fifo).st_mode)
    with pytest.raises(InputError) as caught:
        read_bytes(fifo, "swapped.yaml", 2**20)
    assert caught.value.code == "OML014" and "named pipe" in caught.value.message


def test_a_directory_is_a_read_error_not_a_hang(tmp_path: Path) -> None:
    done = _run("osiris.cli.omlc", "check", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1 and "error[OML091]" in done.stderr and "is a directory" in done.stderr
