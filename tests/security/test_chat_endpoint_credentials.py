"""`osiris chat` sends the API key only where the operator points it, and prints no endpoint password.

- `--base-url http://u:pw@host` never shows `pw` (console, errors, session files);
- a URL with userinfo pasted into a chat message reaches neither the model nor the session;
- `--resume` of a session saved against another endpoint is refused (the key would go there),
  unless `--base-url` names that endpoint again;
- a redirect from the endpoint to another origin is not followed: neither the key nor the
  conversation reaches the second server.
Every server is a real local HTTP server that records each request it receives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from osiris.llm.session import ChatSession
from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import ReplayServer, Reply, yaml_reply

KEY = "sk-operator-key-7d41c9"
PASSWORD = "Endpoint-Pw-93xz"
ONE_SHOT = ("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off", "--no-discovery")


@pytest.fixture
def second() -> ReplayServer:
    """Another origin (an attacker's server): it records whatever reaches it."""
    with ReplayServer([yaml_reply(GOOD_OML)] * 3) as server:
        yield server


def _files(project: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (project / ".osiris").rglob("*") if p.is_file())


def _with_userinfo(url: str, password: str = PASSWORD) -> str:
    return url.replace("http://", f"http://operator:{password}@")


def test_a_password_in_the_base_url_is_never_shown(project: Path, endpoint, monkeypatch, capsys) -> None:
    monkeypatch.delenv("OSIRIS_LLM_BASE_URL")
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat(*ONE_SHOT, "--base-url", _with_userinfo(endpoint.server.url), "-o", "p.yaml") == 0
    out, err = capsys.readouterr()
    assert endpoint.server.completions  # the endpoint was used
    for where, text in (("stdout", out), ("stderr", err), ("session files", _files(project))):
        assert PASSWORD not in text, where
    assert f"at {endpoint.server.url}" in err  # named without its userinfo


@pytest.mark.parametrize(
    "url",
    [
        "http://operator:Endpoint-Pw-93xz@127.0.0.1:9/v1",  # nothing listens: "cannot reach"
        "ftp://operator:Endpoint-Pw-93xz@127.0.0.1/v1",  # not http: a usage error quoting it
        "http://operator:Endpoint-Pw-93xz@127.0.0.1:99999/v1",  # a bad port
    ],
)
def test_errors_about_the_base_url_do_not_show_its_password(project: Path, endpoint, monkeypatch, capsys,
                                                            url: str) -> None:
    monkeypatch.setenv("OSIRIS_LLM_RETRIES", "0")
    assert chat(*ONE_SHOT, "--base-url", url) != 0
    out, err = capsys.readouterr()
    assert "error" in err
    assert PASSWORD not in out + err + (_files(project) if (project / ".osiris").exists() else "")


def test_a_url_with_userinfo_in_a_chat_message_reaches_neither_the_model_nor_the_session(
    project: Path, endpoint, capsys
) -> None:
    endpoint.server.add(yaml_reply(GOOD_OML))
    message = f"copy data/orders.csv to parquet; the warehouse is postgresql://etl:{PASSWORD}@db.internal/dw"
    assert chat("-m", message, "-y", "--tools", "off", "--no-discovery", "-o", "p.yaml") == 0
    sent = b"".join(r.body for r in endpoint.server.requests).decode()
    assert "postgresql://etl:***@db.internal/dw" in sent  # the message went, its password did not
    assert PASSWORD not in sent and PASSWORD not in _files(project) and PASSWORD not in "".join(capsys.readouterr())


def _saved_session(project: Path, base_url: str) -> ChatSession:
    session = ChatSession.create(project / ".osiris" / "chat")
    for event in ("start", "intent", "no_schema"):
        session.fire(event)
    session.data.intent = "copy data/orders.csv to parquet"
    session.data.model = "saved-model"
    session.data.base_url = base_url
    session.data.out = "p.yaml"
    session.save()
    return session


def test_resume_never_sends_the_key_to_a_saved_base_url(project: Path, endpoint, second, monkeypatch,
                                                        capsys) -> None:
    endpoint.use(key=KEY)
    session = _saved_session(project, second.url)  # e.g. an edited or shared state.json
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    err = capsys.readouterr().err
    assert "held with the endpoint" in err and repr(second.url) in err and "--base-url" in err
    assert second.requests == [] and endpoint.server.requests == []


def test_resume_without_a_configured_endpoint_does_not_fall_back_to_the_saved_one(
    project: Path, endpoint, second, monkeypatch, capsys
) -> None:
    for name in ("OSIRIS_LLM_BASE_URL", "OSIRIS_LLM_API_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # meant for api.openai.com
    session = _saved_session(project, second.url)
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    assert "api.openai.com" in capsys.readouterr().err
    assert second.requests == []


def test_resume_goes_to_the_saved_endpoint_when_the_operator_names_it(project: Path, endpoint, second,
                                                                      capsys) -> None:
    endpoint.use(key=KEY)
    session = _saved_session(project, second.url)
    assert chat("--resume", session.id, "-y", "--tools", "off", "--base-url", second.url) == 0
    assert len(second.completions) == 1 and endpoint.server.requests == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed(project: Path, endpoint, second, status: int,
                                                      capsys) -> None:
    endpoint.use(key=KEY)
    endpoint.server.add(Reply(status=status, location=second.url + "/chat/completions"))
    assert chat(*ONE_SHOT) == 1
    err = capsys.readouterr().err
    assert f"HTTP {status}, a redirect to" in err and "does not follow redirects" in err
    assert len(endpoint.server.completions) == 1  # asked once, not retried
    assert second.requests == []  # neither the key nor the conversation went there
    assert KEY not in _files(project)


def test_the_client_itself_refuses_redirects(endpoint, second) -> None:
    from osiris.llm.client import ChatClient, LLMError, LLMSettings

    endpoint.server.add(Reply(status=307, location=second.url + "/chat/completions"))
    client = ChatClient(LLMSettings(model="m", base_url=endpoint.server.url, api_key=KEY))
    try:
        with pytest.raises(LLMError, match="redirect"):
            client.complete([{"role": "user", "content": "hi"}])
    finally:
        client.close()
    assert second.requests == []
    assert endpoint.server.requests[0].headers["authorization"] == f"Bearer {KEY}"
