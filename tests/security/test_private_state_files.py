"""Session, chat, cache and state files are 0600 and their folders 0700, whatever the umask.

Every file and folder a real `osiris run` (and `osiris report`), a real `osiris chat` with
discovery, and the spec cache leave behind is stat()ed. The runs use umask 000, so anything
created with a default mode would show up as 0666/0777. Folders older versions left 0755 are
tightened, and a private file is never world-readable, not even for the instant before its
rename.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from osiris.compiler import files
from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import Reply, yaml_reply

REPO = Path(__file__).resolve().parents[2]

PIPELINE = """oml_version: "0.1.0"
name: modes
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/orders.csv}
  - id: shape
    component: duckdb.processor
    needs: [read]
    config: {query: "SELECT order_id, amount FROM read"}
  - id: write
    component: filesystem.parquet_writer
    needs: [shape]
    config: {path: out/orders.parquet}
"""


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, str]:
    """Every path under `root` (root included) whose mode is not private: path -> octal mode."""
    wrong = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) != want:
            wrong[str(path.relative_to(root.parent))] = oct(stat.S_IMODE(info.st_mode))
    return wrong


def _osiris(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osiris.cli.osiris", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=lambda: os.umask(0),  # noqa: PLW1509 - the point: the harshest umask
    )


def _project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text((REPO / "examples/quickstart/data/orders.csv").read_text())
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def test_every_file_and_folder_a_run_leaves_is_private(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cache = tmp_path / "cache"
    run = _osiris("run", "pipeline.yaml", "--run-id", "ok", "--debug", cwd=project,
                  env={"OSIRIS_CACHE_DIR": str(cache)})
    assert run.returncode == 0, run.stderr
    assert _osiris("report", "ok", cwd=project).returncode == 0
    session = project / ".osiris" / "sessions" / "ok"
    names = {p.relative_to(session).as_posix() for p in session.rglob("*")}
    assert {"events.jsonl", "metrics.jsonl", "status.json", "compiled", "compiled/manifest.yaml",
            "artifacts/report.html"} <= names
    assert _modes(project / ".osiris") == {}
    assert _modes(cache) == {}  # the spec cache the run's compile filled
    assert oct(stat.S_IMODE((project / "out" / "orders.parquet").stat().st_mode)) != "0o600"  # outputs are not state


LEAKY = """oml_version: "0.1.0"
name: leaky
steps:
  - id: extract
    component: mysql.extractor
    config: {connection: "@mysql.shop", query: "SELECT 1"}
  - id: write
    component: filesystem.csv_writer
    needs: [extract]
    config: {path: out/x.csv}
"""


def test_a_failed_run_that_logs_leaves_private_files_too(tmp_path: Path) -> None:
    # tests.runtime.cli_harness runs the real CLI with a driver that logs warnings (osiris.log)
    # and fails.
    (tmp_path / "pipeline.yaml").write_text(LEAKY)
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    shop: {host: 127.0.0.1, database: s, user: u, password: pw-1234}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "tests.runtime.cli_harness", "run", "pipeline.yaml", "--run-id", "bad"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180,
        preexec_fn=lambda: os.umask(0),  # noqa: PLW1509
    )
    assert run.returncode == 1, run.stderr
    assert (tmp_path / ".osiris" / "sessions" / "bad" / "osiris.log").is_file()
    assert _modes(tmp_path / ".osiris") == {}


def test_folders_older_versions_left_open_are_tightened(tmp_path: Path) -> None:
    project = _project(tmp_path)
    old = project / ".osiris" / "sessions" / "20240101T000000Z-old000"
    old.mkdir(parents=True)
    (old / "events.jsonl").write_text("{}\n")
    for path in (project / ".osiris" / "sessions", old):
        path.chmod(0o755)
    assert _osiris("run", "pipeline.yaml", cwd=project).returncode == 0
    assert stat.S_IMODE((project / ".osiris" / "sessions").stat().st_mode) == 0o700
    assert stat.S_IMODE(old.stat().st_mode) == 0o700


def test_every_file_and_folder_a_chat_leaves_is_private(project: Path, endpoint, open_umask: None) -> None:
    cache = project / ".cache" / "osiris" / "discovery"  # under the cache root, $XDG_CACHE_HOME/osiris here
    for path in (project / ".osiris" / "chat", cache):
        path.mkdir(parents=True, mode=0o755)  # as an older version left them
        path.chmod(0o755)
    endpoint.server.add(Reply(tool_calls=[("discover", {"target": "data"})]), yaml_reply(GOOD_OML))
    assert chat("-m", "copy orders.csv to parquet", "-y", "--tools", "on", "--samples", "1", "-o", "p.yaml",
                "--discover", "data/orders.csv") == 0
    state = project / ".osiris"
    chat_dir = next((state / "chat").iterdir())
    assert {p.name for p in chat_dir.iterdir()} >= {"state.json", "transcript.jsonl", "system_prompt.md"}
    assert list(cache.glob("*.json"))
    assert _modes(state / "chat") == {} and _modes(cache) == {}


def test_a_private_file_is_never_world_readable_not_even_before_its_rename(tmp_path: Path, monkeypatch,
                                                                          open_umask: None) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    target = tmp_path / "new" / "deeper" / "status.json"
    files.write_atomic(target, "{}", private=True)
    older = tmp_path / "older.json"
    older.write_text("{}")
    older.chmod(0o644)
    files.write_atomic(older, "{}", private=True)
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and stat.S_IMODE(older.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "deeper").stat().st_mode) == 0o700

    appended = tmp_path / "log.jsonl"
    appended.write_text("")
    appended.chmod(0o644)
    with files.open_private(appended) as handle:
        handle.write("x\n")
    assert stat.S_IMODE(appended.stat().st_mode) == 0o600
    with files.open_private(tmp_path / "fresh.jsonl") as handle:
        assert stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == 0o600


def test_session_files_are_private_from_their_creation(tmp_path: Path, open_umask: None) -> None:
    """Not only once the run is sealed at its end: while it runs too."""
    import logging

    from osiris.runtime.logsetup import masked_logging
    from osiris.runtime.secrets import SecretMasker
    from osiris.runtime.session import Session

    session = Session(tmp_path / ".osiris" / "sessions", "live", SecretMasker())
    try:
        session.events.emit("step_start", step_id="a")
        session.metrics.emit("rows_read", 1, "rows", step_id="a")
        session.write_status({"status": "running"})
        session.write_artifact("schemas.json", {"a": []})
        with masked_logging(SecretMasker(), file=session.dir / "osiris.log"):
            logging.getLogger("osiris.test").warning("logged while running")
            assert {p.name for p in session.dir.iterdir()} >= {"events.jsonl", "metrics.jsonl", "status.json",
                                                               "osiris.log", "artifacts", "tmp"}
            assert _modes(tmp_path / ".osiris") == {}
    finally:
        session.close()


@pytest.mark.timeout(30)
def test_open_private_refuses_a_fifo_or_a_link_instead_of_blocking_or_following(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "events.jsonl")
    with pytest.raises(OSError):  # no reader: ENXIO at once, where a plain open() waits forever
        files.open_private(tmp_path / "events.jsonl")
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep\n")
    (tmp_path / "link.jsonl").symlink_to(target)
    with pytest.raises(OSError):
        files.open_private(tmp_path / "link.jsonl")
    assert target.read_text() == "keep\n"


def test_the_umask_is_read_without_changing_it(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert files._current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still what it was
    finally:
        os.umask(old)
