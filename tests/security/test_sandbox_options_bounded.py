"""Sandbox options are checked like any other usage: absurd numbers and credential variables are refused.

`--e2b-timeout 100000000000000000000` used to reach the local transport's timer and end as
"internal error in a worker thread: OverflowError"; `1e38`, NaN, infinities, negative and
out-of-range values must all be usage errors with the exit code of any other usage error.
`--e2b-env` puts a host variable into the worker's environment, which step code can read, so
credential-looking names are refused, and so is any variable whose value holds a connection
secret, whatever its name.
"""

from __future__ import annotations

import math

import pytest

from osiris.cli.osiris import main
from osiris.runtime.e2b.host import cli_args
from osiris.runtime.e2b.host.options import MAX_CPU, MAX_TIMEOUT_S, E2BOptions
from tests.e2b.helpers import run_hostile, secrets_workspace

ABSURD = ["1e38", str(10**40), "100000000000000000000", "-5", "0", "nan", "NaN", "inf", "-inf", "1.5", "", "0x10"]


def _osiris(*args: str) -> int:
    """`osiris ARGS` in process; argparse's usage errors exit through SystemExit."""
    try:
        return main(list(args))
    except SystemExit as done:
        return int(done.code or 0)


def _usage_exit_code(capsys) -> int:
    code = _osiris("run", "x.yaml", "--no-such-flag")
    capsys.readouterr()
    return code


@pytest.mark.parametrize("value", ABSURD + [str(MAX_TIMEOUT_S + 1)])
def test_absurd_timeouts_are_usage_errors(value, capsys):
    usage = _usage_exit_code(capsys)
    code = _osiris("run", "x.yaml", "--e2b", "--e2b-transport", "local", f"--e2b-timeout={value}")
    err = capsys.readouterr().err
    assert code == usage == 2
    assert "--e2b-timeout" in err and f"from 1 to {MAX_TIMEOUT_S}" in err
    assert "Traceback" not in err and "internal error" not in err and "OverflowError" not in err


@pytest.mark.parametrize("value", ABSURD + [str(MAX_CPU + 1)])
def test_absurd_cpu_counts_are_usage_errors(value, capsys):
    code = _osiris("run", "x.yaml", "--e2b", "--e2b-transport", "local", f"--e2b-cpu={value}")
    err = capsys.readouterr().err
    assert code == 2 and "--e2b-cpu" in err and f"from 1 to {MAX_CPU}" in err
    assert "Traceback" not in err and "internal error" not in err


def test_cli_and_options_share_their_bounds():
    parser_timeout = cli_args.whole_number(1, MAX_TIMEOUT_S)
    assert parser_timeout(str(MAX_TIMEOUT_S)) == MAX_TIMEOUT_S
    source = cli_args.__loader__.get_source(cli_args.__name__)  # type: ignore[union-attr]
    assert f"whole_number(1, {MAX_TIMEOUT_S:_})" in source and f"whole_number(1, {MAX_CPU})" in source


@pytest.mark.parametrize(
    "options",
    [
        {"timeout_s": 10**40},
        {"timeout_s": 1e38},
        {"timeout_s": math.nan},
        {"timeout_s": True},
        {"timeout_s": 0},
        {"cpu": 0},
        {"cpu": 10**30},
        {"heartbeat_s": math.inf},
        {"heartbeat_timeout_s": math.nan},
        {"backoff_s": -1.0},
        {"shutdown_grace_s": 1e38},
        {"retries": 0},
        {"max_protocol_bytes": -1},
    ],
    ids=repr,
)
def test_options_refuse_absurd_values(options):
    with pytest.raises(ValueError):
        E2BOptions(transport="local", **options)


@pytest.mark.parametrize("name", ["PGPASSWORD", "E2B_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DATABASE_URL"])
def test_credential_variables_are_not_forwarded(name, capsys):
    code = _osiris("run", "x.yaml", "--e2b", "--e2b-transport", "local", "--e2b-env", name)
    err = capsys.readouterr().err
    assert code == 2 and f"--e2b-env {name}: looks like a credential" in err


def test_a_variable_holding_a_connection_secret_is_not_forwarded(tmp_path, monkeypatch):
    ws, connections, values = secrets_workspace(tmp_path, monkeypatch.setenv)
    monkeypatch.setenv("SANDBOX_T_INNOCENT", f"prefix-{values[0]}")  # a harmless name, a secret value
    options = E2BOptions(transport="local", env_names=("SANDBOX_T_INNOCENT",))
    outcome, executor, local = run_hostile(tmp_path, {}, workspace=ws, connections=connections, options=options)
    assert outcome.exit_code == 1
    failed = [s for s in outcome.status["steps"].values() if s["status"] == "failed"]
    assert (
        failed and "--e2b-env SANDBOX_T_INNOCENT: its value holds a connection secret" in failed[0]["error"]["message"]
    )
    assert executor.last_report["traffic"]["upload_bytes"] == 0 and all(s.killed for s in local.created)
