"""Unit tests of the pieces: framing, path mapping, handshake checks, preflight, wheel cache, CLI flags."""

from __future__ import annotations

import json
import random

import pytest

from osiris.runtime.e2b.host import wheel
from osiris.runtime.e2b.host.handshake import check_handshake, host_packages
from osiris.runtime.e2b.host.transport import TransportError, with_retries
from osiris.runtime.e2b.paths import Mount, PathMapper, host_path, locate
from osiris.runtime.e2b.protocol import (
    HOST_MESSAGES,
    PROTOCOL,
    WORKER_MESSAGES,
    LineBuffer,
    ProtocolError,
    decode,
    encode,
)
from osiris.runtime.e2b.sandbox.worker import REPORTED_PACKAGES


def test_lines_survive_any_chunking():
    messages = [{"type": "event", "event": "step_start", "fields": {"text": "Zoë 🐍 " * i}} for i in range(50)]
    data = "".join(encode(m) for m in messages).encode("utf-8")
    rng = random.Random(7)
    buffer, lines, at = LineBuffer(), [], 0
    while at < len(data):
        size = rng.randint(1, 40)
        lines += buffer.feed(data[at : at + size])  # bytes split inside multi-byte characters
        at += size
    assert [decode(line, WORKER_MESSAGES) for line in lines] == messages
    assert buffer.pending == ""


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "not a JSON message"),
        ('["a"]', 'no "type"'),
        ('{"type": "telemetry"}', "unknown message type"),
        ('{"type": "artifact", "step_id": "x"}', "lacks path, size, sha256"),
    ],
)
def test_malformed_lines_are_protocol_errors(line, error):
    with pytest.raises(ProtocolError, match=error):
        decode(line, WORKER_MESSAGES)


def test_message_tables_cover_the_documented_protocol():
    assert {"handshake", "event", "metric", "artifact", "heartbeat", "error"} <= set(WORKER_MESSAGES)
    assert {"handshake", "exec_step", "shutdown", "cancel"} <= set(HOST_MESSAGES)


def test_path_mapping_prefers_the_longest_prefix():
    mapper = PathMapper([("/sbx", "<sandbox>"), ("/sbx/work", "/home/me/proj"), ("/sbx/tmp", "/home/me/s/tmp")])
    text = encode({"message": "cannot read /sbx/work/a.csv (spill /sbx/tmp/x.arrow, root /sbx)"})
    assert json.loads(mapper.apply(text))["message"] == (
        "cannot read /home/me/proj/a.csv (spill /home/me/s/tmp/x.arrow, root <sandbox>)"
    )
    mounts = [Mount("/home/me/proj", "/sbx/work"), Mount("/data/lake", "/sbx/mnt/1")]
    assert locate(mounts, "/sbx/work/out/x.csv") == (0, "out/x.csv")
    assert locate(mounts, "/sbx/mnt/1/y.parquet") == (1, "y.parquet")
    assert locate(mounts, "/etc/passwd") is None
    with pytest.raises(ValueError):
        host_path(mounts, 0, "../../etc/passwd")


def _handshake(**changes):
    message = {
        "type": "handshake",
        "protocol": PROTOCOL,
        "osiris": "0.1.0",
        "build": "abc",
        "cpus": 2,
        "python": "3.11.7",
        "packages": host_packages(REPORTED_PACKAGES),
    }
    return {**message, **changes}


def test_handshake_checks():
    assert check_handshake(_handshake(), "abc", None) is None
    assert "protocol" in check_handshake(_handshake(protocol=PROTOCOL + 1), "abc", None)[0]
    assert "build" in check_handshake(_handshake(build="old"), "abc", None)[0]
    packages = {**host_packages(REPORTED_PACKAGES), "pyarrow": "1.0.0"}
    problem = check_handshake(_handshake(packages=packages), "abc", None)
    assert "pyarrow 1.0.0" in problem[0] and "template" in problem[1]
    problem = check_handshake(_handshake(cpus=2), "abc", 8)
    assert "--e2b-cpu asks for 8" in problem[0] and "--cpu-count 8" in problem[1]


def test_retries_back_off_then_give_up():
    sleeps: list[float] = []
    calls = []

    def flaky():
        calls.append(1)
        raise TransportError("reset", transient=True)

    with pytest.raises(TransportError, match="gave up after 3 attempts"):
        with_retries(flaky, what="x", attempts=3, backoff_s=0.5, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0] and len(calls) == 3

    def permanent():
        calls.append(1)
        raise TransportError("bad key")

    calls.clear()
    with pytest.raises(TransportError, match="^bad key$"):
        with_retries(permanent, what="x", attempts=3, backoff_s=0.5, sleep=sleeps.append)
    assert len(calls) == 1


def test_wheel_is_cached_by_content(tmp_path):
    first = wheel.ensure_wheel()
    second = wheel.ensure_wheel()
    assert second.cached and second.path == first.path and second.sha256 == first.sha256
    assert first.path.name.startswith("osiris_oml-") and first.path.suffix == ".whl"
    pins = wheel.cached_pins(tmp_path / "cache")
    assert pins == wheel.pinned_requirements()
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700  # what the cache holds is uploaded and run
    assert (tmp_path / "cache" / "e2b").stat().st_mode & 0o777 == 0o700
    assert all("==" in pin for pin in pins) and any(pin.startswith("pyarrow==") for pin in pins)


def test_cli_flags(capsys):
    from osiris.cli.osiris import build_parser, main

    text = build_parser().format_help() + build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for flag in ("--e2b", "--e2b-timeout", "--e2b-cpu", "--e2b-template", "--e2b-keep", "--e2b-env", "--e2b-transport"):
        assert flag in text
    assert main(["run", "x.yaml", "--e2b-keep"]) == 2
    assert "--e2b-keep needs --e2b" in capsys.readouterr().err
    assert main(["run", "x.yaml", "--e2b", "--e2b-env", "NOT A NAME"]) == 2
    assert "--e2b-env expects a variable name" in capsys.readouterr().err


def test_template_context_and_a_prebuilt_install(tmp_path):
    """The template's install step, run here, yields a build the host then does not upload."""
    import subprocess
    import sys

    from osiris.runtime.e2b.host.template import sdk_template, write_context
    from tests.e2b.helpers import quickstart_workspace, run_pipeline, transport

    info = write_context(tmp_path / "ctx")
    dockerfile = (tmp_path / "ctx" / "e2b.Dockerfile").read_text()
    assert "pip install" in dockerfile and "--install-only" in dockerfile and info["wheel"] in dockerfile
    from e2b import Template

    assert "requirements.lock" in Template.to_dockerfile(sdk_template(tmp_path / "ctx", info["wheel"]))
    site = tmp_path / "opt-osiris-site"
    done = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "ctx" / "bootstrap.py"),
            "--install-only",
            str(tmp_path / "ctx" / info["wheel"]),
            str(tmp_path / "ctx" / "requirements.lock"),
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (site / info["build_id"] / ".osiris-complete").is_file()
    local = transport()
    local.cache_dir = site
    ws = quickstart_workspace(tmp_path / "ws")
    outcome, executor = run_pipeline(ws, "examples/quickstart/pipeline.yaml", sandbox=True, local=local)
    assert outcome.exit_code == 0
    assert executor.last_report["build"]["uploaded"] is False
    assert executor.last_report["worker"]["site"].startswith(str(site))


def test_wheel_key_is_the_content(tmp_path):
    import os

    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    files = [root / "pkg" / "a.py", root / "pkg" / "b.yaml"]
    files[0].write_text("x = 1\n")
    files[1].write_text("k: v\n")
    first = wheel._content_key(root, files, tmp_path / "cache")
    os.utime(files[0], ns=(1, 1))  # touched, same content: same key (re-hashed, not rebuilt)
    assert wheel._content_key(root, files, tmp_path / "cache") == first
    files[1].write_text("k: w\n")
    assert wheel._content_key(root, files, tmp_path / "cache") != first


def test_cli_e2b_without_a_key_fails_clearly(tmp_path, monkeypatch, capsys):
    from osiris.cli.osiris import main
    from tests.e2b.helpers import quickstart_workspace

    ws = quickstart_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws)
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    monkeypatch.delenv("OSIRIS_E2B_TRANSPORT", raising=False)
    assert main(["run", "examples/quickstart/pipeline.yaml", "--e2b", "--e2b-timeout", "60"]) == 1
    err = capsys.readouterr().err
    assert "the sandbox could not be created: E2B_API_KEY is not set" in err
    assert "--e2b-transport local" in err
