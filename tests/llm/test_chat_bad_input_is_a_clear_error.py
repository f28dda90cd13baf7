"""Bad input never produces a traceback: a clear message, a non-zero exit (2 for usage), and
nothing lost or half-written, in `osiris chat`: one group per kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from osiris.llm.client import ToolCall
from osiris.llm.repair import no_draft
from osiris.llm.session import ChatSession
from osiris.llm.states import State
from osiris.llm.tools import Toolbox
from tests.llm.conftest import GOOD_OML, REPO, chat
from tests.support.openai_server import LocalHTTPServer, yaml_reply

ONE_SHOT = ("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off", "--no-discovery")


class RawServer(LocalHTTPServer):
    """Answers every POST with one fixed 200 body: what a wrong --base-url might return."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def _clean(err: str) -> None:
    assert "Traceback" not in err
    for name in ("AttributeError", "IndexError", "JSONDecodeError", "KeyError"):
        assert name not in err


# -- 1. a malformed model reply --

MALFORMED = {
    "html": (b"<!doctype html><html><body>Open WebUI</body></html>", "text/html", False),
    "no-choices": (b'{"id": "x", "object": "chat.completion", "choices": []}', "application/json", False),
    "empty-object": (b"{}", "application/json", False),
    "not-json": (b"this is not json", "application/json", False),
    "bad-sse-chunk": (b"data: {not json\n\n", "text/event-stream", True),
    "sse-error-event": (
        b'event: error\ndata: {"error": {"message": "model overloaded"}}\n\n',
        "text/event-stream",
        True,
    ),
    "sse-nothing": (b"<html>not a stream</html>", "text/html", True),
}


@pytest.fixture
def raw(project: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[RawServer]:
    body, content_type, _stream = MALFORMED[request.param]
    with RawServer(body, content_type) as server:
        monkeypatch.setenv("OSIRIS_LLM_BASE_URL", server.url)
        monkeypatch.setenv("OSIRIS_LLM_MODEL", "m")
        monkeypatch.setenv("OSIRIS_LLM_API_KEY", "k")
        yield server


@pytest.mark.parametrize("raw", list(MALFORMED), indirect=True)
def test_a_malformed_reply_is_one_clear_error_without_retries(raw: RawServer, request, capsys) -> None:
    stream = MALFORMED[request.node.callspec.params["raw"]][2]
    code = chat(*ONE_SHOT, "-o", "p.yaml", "--stream" if stream else "--no-stream")
    assert code == 1
    err = capsys.readouterr().err
    assert f"the endpoint at {raw.url} did not return an OpenAI chat completion" in err
    assert "check --base-url (it usually ends in /v1)" in err
    _clean(err)
    assert raw.hits == 1  # not retried
    assert not Path("p.yaml").exists()
    state = json.loads(next(Path(".osiris/chat").glob("*/state.json")).read_text())
    assert state["state"] == "SYNTHESIS"  # resumable: nothing lost


def test_a_malformed_reply_through_the_real_command(project: Path) -> None:
    with RawServer(b"<html>web ui</html>", "text/html") as server:
        env = {**os.environ, "OSIRIS_LLM_BASE_URL": server.url, "OSIRIS_LLM_MODEL": "m"}
        env["OSIRIS_LLM_API_KEY"] = "k"
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        done = subprocess.run(
            [sys.executable, "-m", "osiris.cli.osiris", "chat", *ONE_SHOT],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 1
    assert "did not return an OpenAI chat completion" in done.stderr
    _clean(done.stderr)


# -- 2. a damaged chat session --


def _session(root: Path, **state: object) -> ChatSession:
    session = ChatSession.create(root)
    session.fire("start")
    session.fire("intent")
    session.fire("no_schema")
    session.data.intent = "copy data/orders.csv to parquet"
    for key, value in state.items():
        setattr(session.data, key, value)
    session.save()
    return session


def _state(session: ChatSession) -> dict:
    return json.loads((session.dir / "state.json").read_text())


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda s: '{"id": "x", "state": "SYNTH', "not valid JSON"),
        (lambda s: json.dumps({**s, "state": "BOGUS"}), "'state' is 'BOGUS'"),
        (lambda s: "[]", "not an object"),
        (lambda s: json.dumps({**s, "history": None}), "'history' is null"),
        (
            lambda s: json.dumps({**s, "state": "REVIEW", "valid_oml": GOOD_OML, "history": []}),
            "'history' is empty",
        ),
        (lambda s: json.dumps({**s, "tokens": {"prompt": "many"}}), "'tokens'"),
        (lambda s: json.dumps({**s, "discovered": [{"tables": [{"nope": 1}]}]}), "discovered[0]"),
        (lambda s: b"\xff\xfe garbage", "damaged"),
    ],
    ids=["truncated", "bogus-state", "list", "null-history", "empty-history-review", "tokens", "discovered", "bytes"],
)
def test_a_damaged_state_json_is_reported_not_raised(project: Path, endpoint, capsys, damage, why) -> None:
    session = _session(project / ".osiris" / "chat")
    body = damage(_state(session))
    path = session.dir / "state.json"
    path.write_bytes(body) if isinstance(body, bytes) else path.write_text(body)
    before = path.read_bytes()
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    err = capsys.readouterr().err
    assert f"chat session {session.id} is damaged" in err and why in err
    _clean(err)
    assert path.read_bytes() == before  # left as it was, for the user to inspect
    assert endpoint.server.completions == []


def test_a_bad_line_inside_the_transcript_is_reported(project: Path, endpoint, capsys) -> None:
    session = _session(project / ".osiris" / "chat")
    good = json.dumps({"role": "user", "content": "hi"})
    (session.dir / "transcript.jsonl").write_text(f"{good}\n{{torn\n{good}\n")
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    err = capsys.readouterr().err
    assert "is damaged: transcript.jsonl line 2 is not a message" in err
    _clean(err)


def test_a_torn_last_transcript_line_is_dropped_and_the_session_resumes(project: Path, endpoint) -> None:
    session = _session(project / ".osiris" / "chat", out="p.yaml")
    good = json.dumps({"role": "user", "content": "copy data/orders.csv to parquet"})
    transcript = session.dir / "transcript.jsonl"
    transcript.write_text(f'{good}\n{{"role": "assistant", "cont')
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat("--resume", session.id, "-y", "--tools", "off") == 0
    assert (project / "p.yaml").read_text() == GOOD_OML
    lines = transcript.read_text().splitlines()
    assert lines[0] == good and all(json.loads(line)["role"] for line in lines)
    [request] = endpoint.server.completions
    assert request.json["messages"][1]["content"] == "copy data/orders.csv to parquet"


def test_load_reports_damage_as_session_not_found_subclass(project: Path) -> None:
    from osiris.llm.session import SessionDamaged, SessionNotFound

    session = _session(project / "chats")
    (session.dir / "state.json").write_text('{"state": "BOGUS"}')
    with pytest.raises(SessionDamaged) as caught:
        ChatSession.load(project / "chats", session.id)
    assert isinstance(caught.value, SessionNotFound)
    assert str(caught.value).startswith(f"chat session {session.id} is damaged:")


# -- 3. --resume loads the session before choosing the model --


def test_resume_of_a_missing_session_says_so_before_asking_for_a_model(project: Path, capsys) -> None:
    assert chat("--resume", "nope") == 2
    err = capsys.readouterr().err
    assert "no chat session 'nope'" in err and "no model chosen" not in err
    _clean(err)


def test_resume_uses_the_saved_model_at_the_configured_endpoint(project: Path, endpoint, monkeypatch) -> None:
    # The saved base URL is only compared with the operator's (tests/security/test_chat_resume_endpoint.py).
    session = _session(project / ".osiris" / "chat", model="saved-model", base_url=endpoint.server.url + "/")
    session.data.out = "p.yaml"
    session.save()
    monkeypatch.delenv("OSIRIS_LLM_MODEL")
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat("--resume", session.id[:20], "-y", "--tools", "off") == 0
    [request] = endpoint.server.completions
    assert request.json["model"] == "saved-model"
    assert (project / "p.yaml").read_text() == GOOD_OML


def test_a_flag_overrides_the_saved_model(project: Path, endpoint, monkeypatch) -> None:
    session = _session(project / ".osiris" / "chat", model="saved-model", base_url=endpoint.server.url, out="p.yaml")
    monkeypatch.delenv("OSIRIS_LLM_MODEL")
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat("--resume", "last", "-y", "--tools", "off", "--model", "flag-model") == 0
    assert endpoint.server.completions[0].json["model"] == "flag-model"
    assert _state(session)["model"] == "flag-model"


def test_an_ambiguous_prefix_is_reported_as_ambiguous(project: Path, capsys) -> None:
    root = project / ".osiris" / "chat"
    for suffix in ("aaaaaa", "bbbbbb"):
        (root / f"20990101T000000Z-{suffix}").mkdir(parents=True)
        (root / f"20990101T000000Z-{suffix}" / "state.json").write_text("{}")
    assert chat("--resume", "20990101T000000Z-") == 2
    err = capsys.readouterr().err
    assert "prefix '20990101T000000Z-' is ambiguous: 2 sessions match" in err
    assert "20990101T000000Z-aaaaaa" in err and "20990101T000000Z-bbbbbb" in err
    _clean(err)


# -- 4. endpoint settings are validated --


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--base-url", "notaurl"], {}, "--base-url 'notaurl' is not an http:// or https:// URL"),
        (["--base-url", "ftp://example.com/v1"], {}, "--base-url 'ftp://example.com/v1' is not an http://"),
        (["--base-url", "http://"], {}, "is not an http:// or https:// URL with a host"),
        ([], {"OSIRIS_LLM_BASE_URL": "localhost:11434/v1"}, "OSIRIS_LLM_BASE_URL 'localhost:11434/v1'"),
        ([], {"OSIRIS_LLM_TIMEOUT": "abc"}, "OSIRIS_LLM_TIMEOUT='abc' is not a number > 0"),
        ([], {"OSIRIS_LLM_RETRIES": "many"}, "OSIRIS_LLM_RETRIES='many' is not a whole number >= 0"),
        ([], {"OSIRIS_LLM_BACKOFF": "-1"}, "OSIRIS_LLM_BACKOFF='-1' is not a number >= 0"),
        (["--timeout", "0"], {}, "--timeout must be a number of seconds > 0"),
    ],
)
def test_malformed_endpoint_settings_are_usage_errors(
    project: Path, endpoint, monkeypatch, capsys, flags, env, message
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert chat(*ONE_SHOT, *flags) == 2
    err = capsys.readouterr().err
    assert message in err
    _clean(err)
    assert endpoint.server.completions == []
    assert not list(project.glob(".osiris/chat/*"))  # no session created for a usage error


# -- 5. unwritable --out and --session-dir --


def test_out_naming_a_directory_is_a_usage_error(project: Path, endpoint, capsys) -> None:
    (project / "somedir").mkdir()
    assert chat(*ONE_SHOT, "--out", "somedir") == 2
    err = capsys.readouterr().err
    assert "--out somedir is a directory" in err
    _clean(err)
    assert endpoint.server.completions == []


def test_out_below_a_file_is_a_usage_error(project: Path, endpoint, capsys) -> None:
    (project / "afile").write_text("x")
    assert chat(*ONE_SHOT, "--out", "afile/p.yaml") == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err
    _clean(err)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_unwritable_out_keeps_the_pipeline_in_the_session(project: Path, endpoint, capsys) -> None:
    # A 250-byte name is valid, but its temp file's name (.NAME.xxxxxxxx.tmp) is too long: the
    # write fails after the model answered, even for root (--out must stay in the project).
    out = "p" * 245 + ".yaml"
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat(*ONE_SHOT, "--out", out) == 1
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "--resume" in err
    _clean(err)
    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    assert state["state"] == "FAILED" and state["valid_oml"] == GOOD_OML
    # nothing lost: resuming with another --out writes it without asking the model again
    assert chat("--resume", "last", "-y", "--out", "p.yaml") == 0
    assert (project / "p.yaml").read_text() == GOOD_OML
    assert len(endpoint.server.completions) == 1


def test_a_session_dir_outside_the_project_is_a_usage_error(project: Path, endpoint, capsys) -> None:
    assert chat(*ONE_SHOT, "--session-dir", "/proc/nope") == 2
    err = capsys.readouterr().err
    assert "--session-dir: path '/proc/nope' is outside the project" in err
    assert not endpoint.server.requests
    _clean(err)


def test_a_session_dir_that_is_a_file_is_a_usage_error(project: Path, endpoint, capsys) -> None:
    (project / "notadir").write_text("x")
    assert chat(*ONE_SHOT, "--session-dir", "notadir") == 2
    err = capsys.readouterr().err
    assert "cannot create a chat session in notadir" in err
    _clean(err)


# -- 6. a tool call with a bad argument value --


def test_a_tool_argument_of_the_wrong_type_becomes_a_tool_result() -> None:
    from osiris.compiler.spec_cache import default_registry

    def discover(*args: object, **kwargs: object) -> object:
        raise AssertionError("must not be reached")

    toolbox = Toolbox(default_registry(), lambda text: no_draft("unused"), discover, allowed_samples=3)
    call = ToolCall("c1", "discover", json.dumps({"target": "data.csv", "sample_rows": "abc"}))
    result = json.loads(toolbox.run(call))
    assert result["error"].startswith("bad arguments for discover:") and "abc" in result["error"]
    extra = ToolCall("c2", "describe_component", json.dumps({"name": "x", "bogus": 1}))
    assert "bad arguments for describe_component" in json.loads(toolbox.run(extra))["error"]


def test_session_state_values_round_trip(project: Path) -> None:
    session = _session(project / "chats", sample_rows=3, out="p.yaml")
    loaded = ChatSession.load(project / "chats", session.id[:18])
    assert loaded.state == State.SYNTHESIS and loaded.data.sample_rows == 3 and loaded.data.out == "p.yaml"
