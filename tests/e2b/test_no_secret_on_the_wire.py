"""Connection secrets cross the wire to E2B only as the worker's stdin (`send_stdin`, SendInput).

docs/e2b.md: the resolved connections are sent "to the worker over its stdin, as one protocol
message ... never in the worker's environment or command line, nor in `Sandbox.create(envs=...)`,
`commands.run(envs=...)` or any file". The envd stand-in records every request the unmodified
SDK sends (method, path, query, headers, body; connect-rpc JSON decoded, `bytes` fields
base64-decoded), and a pipeline whose connections hold two secrets (a literal of the
connections file and one from the host environment) runs through it. Each secret must be found
in a SendInput addressed to the worker's pid -- so the search can see them -- and in nothing
else: not the Start request (command line, `envs`), not an upload, not a header, not a query.
`E2B_API_KEY` is on no request at all (the SDK sends it only to E2B's API, which E2B_DEBUG skips).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2b.helpers import find_secrets, secrets_workspace
from tests.e2b.sandbox_doubles import worker_python
from tests.e2b.wire import API_KEY, run_on_the_wire
from tests.support.envd import EnvdStandIn, RecordedRequest

SEND_INPUT = "/process.Process/SendInput"


def _leaks(request: RecordedRequest, values: list[str]) -> list[str]:
    return sorted({value for text in request.texts() for value in find_secrets(text, values)})


def test_connection_secrets_travel_only_as_the_workers_stdin(
    tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, connections, secrets = secrets_workspace(tmp_path, monkeypatch.setenv)
    python = worker_python(tmp_path / "shim", {})  # database writers drain: no server needed
    outcome, _ = run_on_the_wire(envd, monkeypatch, ws, "pipeline.yaml", python=python, connections=connections)
    assert outcome.exit_code == 0, outcome.status
    assert {s["status"] for s in outcome.status["steps"].values()} == {"succeeded"}
    (worker_pid,) = [pid for pid, _ in envd.started]

    channel, elsewhere = [], []
    for request in envd.requests:
        found = _leaks(request, secrets)
        if not found:
            continue
        to_worker = request.path == SEND_INPUT and all(
            message["process"]["pid"] == worker_pid for message in request.messages()
        )
        (channel if to_worker else elsewhere).append((request.method, request.path, found))
    assert elsewhere == []
    assert channel and sorted({v for _, _, found in channel for v in found}) == sorted(secrets)

    # The one worker command: no secret in its command line or environment, which holds the
    # fixed variables only (no --e2b-env here).
    (start,) = [r for r in envd.requests if r.path == "/process.Process/Start"]
    (config,) = [m["process"] for m in start.messages()]
    assert set(config["envs"]) == {"OSIRIS_E2B", "PYTHONUNBUFFERED"}
    assert API_KEY not in "".join(t for r in envd.requests for t in r.texts())
    assert envd.errors == []
