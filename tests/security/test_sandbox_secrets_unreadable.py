"""Step code in the sandbox cannot read the connection secrets from its process's metadata.

The attack that worked: a DuckDB step ran `read_text('/proc/self/environ')` in the sandbox and
got `OSIRIS_E2B_CONNECTIONS`, the resolved connections in clear. Here a step double
(tests/e2b/sandbox_doubles.Snoop, running inside the real worker of the local sandbox
transport) reads `/proc/<pid>/environ` and `/proc/<pid>/cmdline` of its own process and of
its parent, its `os.environ`, its open descriptors and every file of the sandbox directory,
and writes all of it into its output, which comes back to the host. Two database writers
name connections with secrets (a literal password of the connections file, and one from the
host environment), so those secrets are in the worker while the step runs. None of them may
appear in the output, the session (events, metrics, status, log, e2b.json) or the sandbox
directory.
"""

from __future__ import annotations

from pathlib import Path

from osiris.runtime.e2b.host.options import E2BOptions
from tests.e2b.helpers import find_secrets, read_snoop, run_hostile, secrets_workspace


def _files_text(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_bytes().decode("utf-8", "replace")
        for p in root.rglob("*")
        if p.is_file() and "site" not in p.relative_to(root).parts[:1]
    }


def test_step_code_finds_no_secret_in_its_process_or_the_sandbox(tmp_path, monkeypatch):
    ws, connections, values = secrets_workspace(tmp_path, monkeypatch.setenv)
    outcome, executor, local = run_hostile(
        tmp_path,
        {"snoop": True},
        workspace=ws,
        connections=connections,
        options=E2BOptions(transport="local", keep=True),
    )
    try:
        assert outcome.exit_code == 0, (outcome.status, [d.message for d in outcome.diagnostics])
        snooped = read_snoop(ws / "out" / "snoop.csv")
        # The snoop really read the worker's process: its environment, argv and the job files.
        environs = [text for source, text in snooped.items() if source.startswith("/proc/") and "/environ" in source]
        assert environs and "OSIRIS_E2B=1" in environs[0]
        assert any("bootstrap.py" in text for source, text in snooped.items() if source.endswith("/cmdline"))
        assert any(source.startswith("sandbox:job/") for source in snooped)
        # ... and found no secret anywhere.
        assert {
            source: find_secrets(text, values) for source, text in snooped.items() if find_secrets(text, values)
        } == {}
        (sandbox,) = local.created
        for root in (sandbox.path, ws):  # the sandbox directory; the session and downloaded outputs
            found = {name: find_secrets(text, values) for name, text in _files_text(root).items()}
            assert {name: hits for name, hits in found.items() if hits} == {}, root
        # The secrets did reach the worker: the writers resolved their connections there.
        assert outcome.status["steps"]["load-my"]["status"] == "succeeded"
        assert "SANDBOX_T_PG_PASSWORD" not in executor.last_report["worker_env_names"]
    finally:
        for sandbox in local.created:
            sandbox.kill()
