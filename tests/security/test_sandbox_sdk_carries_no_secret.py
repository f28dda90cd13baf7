"""The E2B transport puts no secret where sandbox processes can read it: only the worker's stdin.

`Sandbox.create(envs=...)` and `commands.run(envs=...)` become the environment of sandbox
processes (readable from /proc/<pid>/environ), the command line becomes their argv, and
uploaded files sit in the sandbox's file system. Through tests/e2b/fake_e2b.FakeSandbox
(which checks every call against the pinned SDK's signatures and records what crosses into
the sandbox), a pipeline whose connections hold two secrets runs with the Snoop double in the
worker: no recorded `envs`, command, metadata or uploaded byte holds a secret; the secrets
did cross, over `send_stdin`; and the snoop, reading the worker's own process, finds none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osiris.runtime.e2b.host.executor import SandboxExecutor
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.sdk import E2BTransport
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.run import RunRequest, run
from tests.e2b import fake_e2b
from tests.e2b.helpers import find_secrets, read_snoop, secrets_workspace
from tests.e2b.sandbox_doubles import worker_python


@pytest.fixture(autouse=True)
def _fresh_calls():
    fake_e2b.CALLS.clear()
    fake_e2b.SENT.clear()
    yield
    fake_e2b.CALLS.clear()
    fake_e2b.SENT.clear()


def test_secrets_cross_only_over_stdin(tmp_path, monkeypatch):
    ws, connections, values = secrets_workspace(tmp_path, monkeypatch.setenv)
    monkeypatch.setenv("SANDBOX_T_REGION", "eu-west-1")  # an allowed, harmless variable
    transport = E2BTransport(
        sandbox_cls=fake_e2b.FakeSandbox,
        root=str(tmp_path / "remote"),
        python=worker_python(tmp_path / "shim", {"snoop": True}),
        cache_dir=None,
    )
    options = E2BOptions(transport="e2b", template="osiris", env_names=("SANDBOX_T_REGION",))
    request = RunRequest(
        pipeline=Path("pipeline.yaml"),
        connections=connections,
        work_dir=ws,
        session_root=ws / ".osiris" / "sessions",
        env=dict(os.environ),
        exec_options=ExecOptions(work_dir=ws),
    )
    outcome = run(request, executor=SandboxExecutor(options, transport))
    assert outcome.exit_code == 0, outcome.status

    # Arguments of every SDK call (envs of create and run, metadata, paths, timeouts...).
    for name, kwargs in fake_e2b.CALLS:
        assert find_secrets(json.dumps(kwargs, default=repr), values) == [], name
    (create,) = [kw for name, kw in fake_e2b.CALLS if name == "Sandbox.create"]
    assert not create.get("envs")
    (start,) = [kw for name, kw in fake_e2b.CALLS if name == "commands.run"]
    assert set(start["envs"]) == {"OSIRIS_E2B", "PYTHONUNBUFFERED", "SANDBOX_T_REGION"}
    # What crossed into the sandbox: every uploaded file and the command line hold none ...
    crossed = {kind: data.decode("utf-8", "replace") for kind, data in fake_e2b.SENT if kind != "stdin"}
    assert any(kind.startswith("upload:") for kind in crossed) and "command" in crossed
    assert {kind: find_secrets(text, values) for kind, text in crossed.items() if find_secrets(text, values)} == {}
    # ... the worker's stdin carried them (the `connections` message), and nothing else did.
    stdin = b"".join(data for kind, data in fake_e2b.SENT if kind == "stdin").decode()
    assert sorted(find_secrets(stdin, values)) == sorted(values)
    assert '"type":"connections"' in stdin
    # The worker's own process, as step code sees it.
    snooped = read_snoop(ws / "out" / "snoop.csv")
    environs = [text for source, text in snooped.items() if source.startswith("/proc/") and "/environ" in source]
    assert environs and "SANDBOX_T_REGION=eu-west-1" in environs[0]
    assert {source: find_secrets(text, values) for source, text in snooped.items() if find_secrets(text, values)} == {}
    remote = {
        str(p): p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "remote").rglob("*") if p.is_file()
    }
    assert {name: find_secrets(text, values) for name, text in remote.items() if find_secrets(text, values)} == {}
