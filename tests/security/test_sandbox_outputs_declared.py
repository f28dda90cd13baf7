"""Only the files the manifest's writers declare come back from a sandbox, and only to their place.

Step code in the sandbox (tests/e2b/sandbox_doubles.Snoop, inside the real worker of the local
transport) writes files nobody declared, inside and outside its working directory, plants
symbolic links to files of the host, and writes forged `artifact` messages into the worker's
protocol stream: undeclared paths, `..` traversal onto the project's own files, absolute
paths, unknown mounts, outputs for a step that declares none, sizes that lie. The host must
download nothing of it, leave every file of the project as it was, and fail the run with an
error that says what was refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from osiris.runtime.e2b.host.local import LocalTransport
from osiris.runtime.e2b.host.transport import SandboxSpec, TransportError
from tests.e2b.helpers import events, files_under, hostile_workspace, leftovers, run_hostile

BAIT = "HOSTILE CONTENT FROM THE SANDBOX\n"


def _artifact(step_id: str, path: str, **extra: object) -> dict[str, object]:
    return {"type": "artifact", "step_id": step_id, "mount": 0, "path": path, **extra}


def _project(ws: Path) -> dict[str, bytes]:
    return {name: data for name, data in files_under(ws).items() if not name.startswith("out/")}


def _failure_text(outcome) -> str:
    return json.dumps(outcome.status["steps"]) + json.dumps([e for e in events(outcome) if e["event"] == "step_error"])


def test_undeclared_files_stay_in_the_sandbox(tmp_path):
    """An honest worker; the step writes extra files, in and out of its working directory."""
    plan = {"write": {"out/undeclared.csv": BAIT, "extra.txt": BAIT, "../outside.txt": BAIT, "../job/x": BAIT}}
    outcome, executor, _ = run_hostile(tmp_path, plan)
    assert outcome.exit_code == 0, outcome.status
    ws = tmp_path / "ws"
    assert sorted(files_under(ws)) == ["data/orders.csv", "out/snoop.csv", "pipeline.yaml"]
    assert executor.last_report["traffic"]["download_bytes"] == (ws / "out" / "snoop.csv").stat().st_size


FORGED = {
    # A file the step wrote, reported as the writer's output under another name.
    "undeclared path": _artifact("write-snoop", "out/undeclared.csv"),
    # The project's own files, reached by climbing: the host would overwrite its pipeline.
    "traversal onto the pipeline": _artifact("write-snoop", "out/../pipeline.yaml"),
    "plain name of the pipeline": _artifact("write-snoop", "pipeline.yaml"),
    "climbing out of the mount": _artifact("write-snoop", "../outside.txt"),
    "absolute path": _artifact("write-snoop", "/etc/hostname", size=1, sha256="0" * 64),
    "unknown mount": _artifact("write-snoop", "out/snoop.csv", mount=7, size=1, sha256="0" * 64),
    "a step that declares no output": _artifact("snoop", "out/undeclared.csv"),
    "an unknown step": _artifact("no-such-step", "out/undeclared.csv"),
}


@pytest.mark.parametrize("forged", list(FORGED.values()), ids=list(FORGED))
def test_forged_output_reports_are_refused(tmp_path, forged):
    ws = hostile_workspace(tmp_path / "ws")
    before = _project(ws)
    plan = {
        "write": {"out/undeclared.csv": BAIT, "pipeline.yaml": BAIT, "../outside.txt": BAIT},
        "forge": [forged],
    }
    outcome, _, local = run_hostile(tmp_path, plan, workspace=ws)
    assert outcome.exit_code == 1
    assert _project(ws) == before  # nothing of the project was replaced
    assert not (ws / "out" / "undeclared.csv").exists() and not (tmp_path / "outside.txt").exists()
    assert BAIT not in "".join(p.read_text(errors="replace") for p in ws.rglob("*") if p.is_file())
    text = _failure_text(outcome)
    assert "refused" in text or "invalid message" in text, text
    assert leftovers(ws) == []
    assert all(sandbox.killed for sandbox in local.created)


def test_a_second_report_of_a_declared_output_is_refused(tmp_path):
    """Step code announces the writer's declared file (with its own content) before the writer ran."""
    plan = {"write": {"out/snoop.csv": BAIT}, "forge": [_artifact("write-snoop", "out/snoop.csv")]}
    outcome, _, _ = run_hostile(tmp_path, plan)
    assert outcome.exit_code == 1
    assert "twice; refused" in _failure_text(outcome)


def test_a_file_larger_than_announced_is_refused(tmp_path):
    """The copy stops at the announced size: a sandbox cannot stream more than it declared."""
    plan = {
        "write": {"out/snoop.csv": BAIT * 1000},
        "forge": [_artifact("write-snoop", "out/snoop.csv", size=10, sha256="0" * 64)],
    }
    outcome, _, _ = run_hostile(tmp_path, plan)
    ws = tmp_path / "ws"
    assert outcome.exit_code == 1
    assert "larger than the 10 bytes announced" in _failure_text(outcome)
    assert not (ws / "out" / "snoop.csv").exists() and leftovers(ws) == []


def test_a_link_to_a_host_file_is_not_followed(tmp_path):
    """The local sandbox is this machine: a link at the declared path must not fetch a host file."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST SECRET " + os.urandom(8).hex() + "\n", encoding="utf-8")
    plan = {
        "symlinks": {"out/snoop.csv": str(secret)},
        "forge": [_artifact("write-snoop", "out/snoop.csv")],  # size and sha256 of the host file
    }
    outcome, _, _ = run_hostile(tmp_path, plan)
    ws = tmp_path / "ws"
    assert outcome.exit_code == 1
    assert "symbolic link" in _failure_text(outcome)
    assert secret.read_text() not in "".join(p.read_text(errors="replace") for p in ws.rglob("*") if p.is_file())


def test_a_writer_whose_output_is_a_link_fails(tmp_path):
    """An honest worker never reports a link; the host then fails the writer instead of trusting it."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST SECRET\n", encoding="utf-8")
    outcome, _, _ = run_hostile(tmp_path, {"symlink_output": str(secret)})
    ws = tmp_path / "ws"
    assert outcome.exit_code == 1
    assert outcome.status["steps"]["write-snoop"]["status"] == "failed"
    assert "did not report this step's output" in outcome.status["steps"]["write-snoop"]["error"]["message"]
    assert not (ws / "out" / "snoop.csv").exists()


@pytest.mark.parametrize(
    "layout",
    ["file link", "directory link", "fifo", "traversal", "larger"],
)
def test_local_sandbox_download_refuses_what_is_not_its_own_regular_file(tmp_path, layout):
    """The transport itself: links anywhere on the way, FIFOs, `..`, and files over the limit."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.csv").write_text("host file\n", encoding="utf-8")
    sandbox = LocalTransport(base_dir=tmp_path).create(SandboxSpec(None, 60))
    try:
        work = sandbox.path / "work"
        (work / "out").mkdir(parents=True)
        remote = f"{sandbox.root}/work/out/x.csv"
        if layout == "file link":
            os.symlink(outside / "x.csv", work / "out" / "x.csv")
        elif layout == "directory link":
            (work / "out").rmdir()
            os.symlink(outside, work / "out")
        elif layout == "fifo":
            os.mkfifo(work / "out" / "x.csv")
        elif layout == "traversal":
            remote = f"{sandbox.root}/work/../../outside/x.csv"
        else:
            (work / "out" / "x.csv").write_bytes(b"z" * 100)
        target = tmp_path / "copy"
        with pytest.raises(TransportError) as caught:
            sandbox.download(remote, target, 10)
        expected = {
            "file link": "symbolic link",
            "directory link": "symbolic link",
            "fifo": "not a regular file",
            "traversal": "outside the sandbox",
            "larger": "larger than the 10 bytes",
        }[layout]
        assert expected in str(caught.value)
        assert not target.exists() or b"host file" not in target.read_bytes()
        # ... while a regular file of the sandbox comes back whole.
        (sandbox.path / "ok.csv").write_bytes(b"a,b\n1,2\n")
        assert sandbox.download(f"{sandbox.root}/ok.csv", target, 8) == 8
        assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    finally:
        sandbox.kill()


DATASET_PIPELINE = """\
oml_version: "0.1.0"
name: hostile-dataset
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    config: {path: data/orders.csv}
  - id: snoop
    component: duckdb.processor
    inputs: {orders: "${extract-orders.df}"}
    config: {query: "SELECT * FROM orders"}
  - id: write-ds
    component: filesystem.parquet_writer
    needs: [snoop]
    config: {path: out/ds/, max_rows_per_file: 5}
  - id: write-csv
    component: filesystem.csv_writer
    needs: [snoop]
    config: {path: out/one.csv}
"""


def _listing(*names: str) -> list[dict[str, object]]:
    return [{"name": name, "size": len(BAIT), "sha256": hashlib.sha256(BAIT.encode()).hexdigest()} for name in names]


FORGED_DATASETS = {
    "a name climbing onto the pipeline": _artifact("write-ds", "out/ds", files=_listing("../../pipeline.yaml")),
    "an absolute name": _artifact("write-ds", "out/ds", files=_listing("/etc/hostname")),
    "a hidden name": _artifact("write-ds", "out/ds", files=_listing(".git/config")),
    "an empty segment": _artifact("write-ds", "out/ds", files=_listing("a//b.parquet")),
    "a name twice": _artifact("write-ds", "out/ds", files=_listing("part-00000.parquet", "part-00000.parquet")),
    "a dataset reported as one file": _artifact("write-ds", "out/ds"),
    "a file reported as a dataset": _artifact("write-csv", "out/one.csv", files=_listing("part-00000.parquet")),
}


@pytest.mark.parametrize("forged", list(FORGED_DATASETS.values()), ids=list(FORGED_DATASETS))
def test_forged_dataset_reports_are_refused(tmp_path, forged):
    ws = hostile_workspace(tmp_path / "ws", DATASET_PIPELINE)
    before = _project(ws)
    forged = {"size": len(BAIT), "sha256": hashlib.sha256(BAIT.encode()).hexdigest(), **forged}
    plan = {"write": {"out/ds/part-00000.parquet": BAIT, "pipeline.yaml": BAIT}, "forge": [forged]}
    outcome, _, _ = run_hostile(tmp_path, plan, workspace=ws)
    assert outcome.exit_code == 1
    assert _project(ws) == before and not (ws / "out").exists(), "nothing downloaded"
    assert "refused" in _failure_text(outcome), _failure_text(outcome)
    assert leftovers(ws) == []
