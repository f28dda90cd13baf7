"""The envd stand-in answers the unmodified SDK the way envd does, for what the E2B transport uses.

The wire suites (test_sdk_on_the_wire_matches_local.py, test_no_secret_on_the_wire.py) are
only as good as tests/support/envd.py, so its behaviour is pinned here through the SDK itself:
both upload encodings, existence checks, streamed downloads, a background command with stdin
and an environment of its own, exit codes as envd reports them (-1 and "signal: killed" for a
signal), command timeouts, handles that outlive their stream, the sandbox's end of life, and
the recording of what was sent.
"""

from __future__ import annotations

import time
from pathlib import Path

import e2b
import pytest

from osiris.runtime.e2b.host.sdk import exit_code
from tests.support.envd import SANDBOX_ID, EnvdStandIn


@pytest.fixture
def sandbox(envd: EnvdStandIn) -> e2b.Sandbox:
    created = e2b.Sandbox.create(template="base", timeout=60)
    assert created.sandbox_id == SANDBOX_ID  # the control plane was skipped: only envd is in play
    return created


def _wait_for(condition, seconds: float = 10) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_files_round_trip_in_both_upload_encodings(envd: EnvdStandIn, sandbox: e2b.Sandbox, tmp_path: Path) -> None:
    home = envd.home
    sandbox.files.write_files(
        [{"path": f"{home}/a.txt", "data": b"alpha"}, {"path": f"{home}/d/b.txt", "data": b"beta"}]
    )
    source = tmp_path / "payload.bin"
    source.write_bytes(bytes(range(256)) * 600)  # 150 kB: several download chunks
    with open(source, "rb") as handle:
        sandbox.files.write_files([{"path": f"{home}/big.bin", "data": handle}])
    uploads = [r for r in envd.requests if r.method == "POST" and r.path == "/files"]
    kinds = [dict(r.headers)["content-type"].split(";")[0] for r in uploads]
    assert kinds == ["multipart/form-data", "application/octet-stream"]
    assert (home / "a.txt").read_bytes() == b"alpha" and (home / "d" / "b.txt").read_bytes() == b"beta"
    assert sandbox.files.exists(f"{home}/d/b.txt") and not sandbox.files.exists(f"{home}/missing")
    assert b"".join(sandbox.files.read(f"{home}/big.bin", format="stream")) == source.read_bytes()
    with pytest.raises(e2b.NotFoundException):
        sandbox.files.read(f"{home}/missing", format="stream")
    with pytest.raises(e2b.SandboxException):
        sandbox.files.write("/etc/osiris-envd-test", b"x")  # outside the stand-in's directories
    assert not Path("/etc/osiris-envd-test").exists()
    assert envd.errors == []


def test_background_command_streams_takes_stdin_and_sees_only_its_environment(
    envd: EnvdStandIn, sandbox: e2b.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVD_T_HOST_ONLY", "must-not-leak")
    handle = sandbox.commands.run(
        'read line; echo "got $line"; env | sort; echo oops >&2; exit 3',
        background=True,
        envs={"ENVD_T_GIVEN": "given"},
        stdin=True,
        timeout=0,
    )
    handle.send_stdin("hello\n")
    out: list[str] = []
    err: list[str] = []
    with pytest.raises(e2b.CommandExitException) as exited:
        handle.wait(on_stdout=out.append, on_stderr=err.append)
    assert (exited.value.exit_code, exited.value.error) == (3, "exit status 3")
    assert exit_code(exited.value) == 3
    text = "".join(out)
    assert text.startswith("got hello\n") and "".join(err) == "oops\n"
    names = {line.split("=", 1)[0] for line in text.splitlines()[1:]}
    assert {"PATH", "HOME", "USER", "LOGNAME", "ENVD_T_GIVEN"} <= names and "ENVD_T_HOST_ONLY" not in names
    (pid, config) = envd.started[-1]
    assert pid == handle.pid and config.cmd == "/bin/bash" and config.args[0] == "-l"
    # What the SDK sent for stdin is recorded and readable (base64 in the JSON codec).
    (sent,) = [r for r in envd.requests if r.path == "/process.Process/SendInput"]
    assert sent.messages()[0]["process"]["pid"] == pid and "hello\n" in sent.texts()
    assert envd.errors == []


def test_a_signal_is_exit_code_minus_one_and_reads_as_the_signal(envd: EnvdStandIn, sandbox: e2b.Sandbox) -> None:
    handle = sandbox.commands.run("sleep 30", background=True, stdin=True, timeout=0)
    assert handle.kill()
    with pytest.raises(e2b.CommandExitException) as exited:
        handle.wait()
    assert (exited.value.exit_code, exited.value.error) == (-1, "signal: killed")  # Go's ProcessState
    assert exit_code(exited.value) == -9
    assert envd.processes()[handle.pid] == -9


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (-1, "signal: terminated", -15),
        (-1, "signal: segmentation fault (core dumped)", -11),
        (-1, "signal: no such signal", -1),
        (-1, None, -1),
        (137, "exit status 137", 137),
    ],
)
def test_exit_codes_as_envd_words_them(code: int, error: str | None, expected: int) -> None:
    assert exit_code(e2b.CommandExitException(stderr="", stdout="", exit_code=code, error=error)) == expected


def test_command_timeout_kills_the_process(envd: EnvdStandIn, sandbox: e2b.Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(e2b.TimeoutException):
        sandbox.commands.run("sleep 30", timeout=1)
    assert time.monotonic() - started < 10
    (pid, _) = envd.started[-1]
    assert _wait_for(lambda: envd.processes()[pid] is not None) and envd.processes()[pid] == -9


def test_a_background_handle_outlives_its_stream(envd: EnvdStandIn, sandbox: e2b.Sandbox) -> None:
    marker = envd.home / "done.txt"
    handle = sandbox.commands.run(f"sleep 0.3; echo finished > {marker}", background=True, timeout=0)
    handle.disconnect()
    assert _wait_for(marker.exists) and marker.read_text() == "finished\n"
    assert _wait_for(lambda: envd.processes()[handle.pid] == 0)


def test_end_of_life_kills_processes_and_answers_not_found(envd: EnvdStandIn, sandbox: e2b.Sandbox) -> None:
    envd.lifetime_s = 1.0
    handle = sandbox.commands.run("sleep 30", background=True, timeout=0)
    with pytest.raises(e2b.SandboxException) as broken:
        handle.wait()
    assert isinstance(broken.value, e2b.exceptions.SandboxNotRunningException), repr(broken.value)
    assert envd.expired and _wait_for(lambda: envd.processes()[handle.pid] is not None)
    with pytest.raises(e2b.exceptions.SandboxNotRunningException):
        sandbox.files.exists(str(envd.home))
