"""The E2B transport against the SDK's own types and signatures (no network, no API key).

`tests/e2b/fake_e2b.FakeSandbox` checks every call against the pinned SDK (2.63.0) with
`inspect.signature(...).bind` and runs the worker on this machine, so the whole E2B code
path (create, write_files, background command with streamed stdout and send_stdin, stream
download, kill) runs end to end and is compared with a local run.
"""

from __future__ import annotations

import sys

import e2b
import pytest

from osiris.runtime.e2b.host.executor import SandboxExecutor
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.sdk import E2BTransport, translate
from osiris.runtime.e2b.host.transport import ConnectionLost, SandboxSpec, SandboxTimeout, TransportError
from tests.e2b import fake_e2b
from tests.e2b.helpers import files_under, leftovers, normalised_events, quickstart_workspace, run_pipeline

PIPELINE = "examples/quickstart/pipeline.yaml"


@pytest.fixture(autouse=True)
def _fresh_calls():
    fake_e2b.CALLS.clear()
    fake_e2b.SENT.clear()
    fake_e2b.FakeSandbox.drop_after_lines = None
    yield
    fake_e2b.FakeSandbox.drop_after_lines = None


def _executor(tmp_path, **options) -> SandboxExecutor:
    transport = E2BTransport(
        sandbox_cls=fake_e2b.FakeSandbox, root=str(tmp_path / "remote"), python=sys.executable, cache_dir=None
    )
    return SandboxExecutor(E2BOptions(transport="e2b", template="osiris", timeout_s=123, **options), transport)


def _run(ws, executor):
    from pathlib import Path

    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.run import RunRequest, run

    request = RunRequest(
        pipeline=Path(PIPELINE),
        work_dir=ws,
        session_root=ws / ".osiris" / "sessions",
        exec_options=ExecOptions(work_dir=ws),
    )
    return run(request, executor=executor)


def test_e2b_transport_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("E2B_T_ALLOWED", "yes")
    here, there = quickstart_workspace(tmp_path / "local"), quickstart_workspace(tmp_path / "cloud")
    local, _ = run_pipeline(here, PIPELINE, sandbox=False)
    outcome = _run(there, _executor(tmp_path, env_names=("E2B_T_ALLOWED",)))
    assert outcome.exit_code == 0, outcome.status
    assert files_under(there) == files_under(here)
    assert normalised_events(outcome) == normalised_events(local)
    assert leftovers(there) == []
    names = [name for name, _ in fake_e2b.CALLS]
    assert names[0] == "Sandbox.create" and names[-1] == "Sandbox.kill"
    create = fake_e2b.CALLS[0][1]
    assert create["template"] == "osiris" and create["timeout"] == 123 and not create.get("envs")
    assert "osiris_session" in create["metadata"]
    (start,) = [kw for name, kw in fake_e2b.CALLS if name == "commands.run"]
    assert start["background"] is True and start["stdin"] is True and start["timeout"] == 0
    assert set(start["envs"]) == {"OSIRIS_E2B", "PYTHONUNBUFFERED", "E2B_T_ALLOWED"}
    assert {"files.write_files", "handle.wait", "handle.send_stdin", "files.read"} <= set(names)
    reads = [kw for name, kw in fake_e2b.CALLS if name == "files.read"]
    assert reads and all(kw["format"] == "stream" for kw in reads)


def test_stream_drop_is_a_lost_connection(tmp_path):
    ws = quickstart_workspace(tmp_path / "cloud")
    fake_e2b.FakeSandbox.drop_after_lines = 40
    outcome = _run(ws, _executor(tmp_path))
    assert outcome.exit_code == 1
    failed = [s for s in outcome.status["steps"].values() if s["status"] == "failed"]
    assert failed and all("lost the connection to the sandbox" in s["error"]["message"] for s in failed)
    assert fake_e2b.CALLS[-1][0] == "Sandbox.kill"


def test_missing_api_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(TransportError) as caught:
        E2BTransport().create(SandboxSpec(None, 60))
    assert "E2B_API_KEY" in str(caught.value) and "--e2b-transport local" in caught.value.hint


@pytest.mark.parametrize(
    ("error", "kind", "transient"),
    [
        (e2b.RateLimitException("429 too many requests"), TransportError, True),
        (e2b.TimeoutException("request timed out"), TransportError, True),
        (e2b.AuthenticationException("invalid API key"), TransportError, False),
        (e2b.NotFoundException("template osiris not found"), TransportError, False),
        (e2b.exceptions.SandboxNotRunningException("sandbox is not running"), SandboxTimeout, False),
        (ConnectionResetError("reset"), TransportError, True),
        (ValueError("something else"), TransportError, False),
    ],
)
def test_sdk_errors_are_translated(error, kind, transient):
    translated = translate(error, "creating the E2B sandbox")
    assert isinstance(translated, kind) and translated.transient is transient
    assert str(translated).startswith("creating the E2B sandbox failed: ")


def test_rate_limited_create_is_transient(tmp_path):
    """The host retries transient errors (tested in test_faults); here: the SDK's 429 is one."""

    class Limited(fake_e2b.FakeSandbox):
        @classmethod
        def create(cls, *args, **kwargs):
            raise e2b.RateLimitException("429: rate limit exceeded")

    transport = E2BTransport(sandbox_cls=Limited, root=str(tmp_path), python=sys.executable, cache_dir=None)
    with pytest.raises(TransportError) as caught:
        transport.create(SandboxSpec(None, 60))
    assert caught.value.transient and "RateLimitException" in str(caught.value)


def test_process_exit_and_drop_mapping(tmp_path):
    sandbox = E2BTransport(
        sandbox_cls=fake_e2b.FakeSandbox, root=str(tmp_path), python=sys.executable, cache_dir=None
    ).create(SandboxSpec(None, 60))
    out: list[str] = []
    process = sandbox.start(
        ["/bin/sh", "-c", "echo hi; exit 3"], env={}, cwd=str(tmp_path), on_stdout=out.append, on_stderr=out.append
    )
    process._thread.join(10)
    assert process.poll().code == 3 and "".join(out).endswith("hi\n")
    fake_e2b.FakeSandbox.drop_after_lines = 0
    process = sandbox.start(
        ["/bin/sh", "-c", "echo hi; sleep 5"], env={}, cwd=str(tmp_path), on_stdout=out.append, on_stderr=out.append
    )
    process._thread.join(10)
    assert isinstance(process.poll().error, ConnectionLost)
    sandbox.kill()
