"""The LLM client keeps its documented semantics: OSIRIS_LLM_RETRIES counts retries after the first
request, waits are capped, a dropped connection is retried; token use has one tally, the session's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from osiris.llm.client import MAX_DELAY_S, ChatClient, LLMError, LLMSettings, Reply, Usage

_REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _client(monkeypatch: pytest.MonkeyPatch, errors: list[Exception], **settings: Any) -> tuple[ChatClient, list]:
    sleeps: list[float] = []
    client = ChatClient(
        LLMSettings(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", **settings), sleep=sleeps.append
    )
    calls: list[int] = []

    def once(messages: Any, tools: Any) -> Reply:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return Reply("done", usage=Usage(3, 4))

    monkeypatch.setattr(client, "_once", once)
    client.calls_made = calls  # type: ignore[attr-defined]
    return client, sleeps


def _status(code: int, retry_after: str | None = None) -> openai.APIStatusError:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = httpx.Response(code, request=_REQUEST, headers=headers, json={"error": {"message": "busy"}})
    return openai.APIStatusError("busy", response=response, body={"message": "busy"})


def test_llm_retries_means_retries_after_the_first_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """OSIRIS_LLM_RETRIES=3: up to 4 requests, waits 1, 2, 4 s (OSIRIS_LLM_BACKOFF=1)."""
    errors: list[Exception] = [openai.APITimeoutError(request=_REQUEST) for _ in range(10)]
    client, sleeps = _client(monkeypatch, errors, retries=3, backoff_s=1.0)
    with pytest.raises(LLMError, match=r"\(4 attempts\)"):
        client.complete([{"role": "user", "content": "hi"}])
    assert sleeps == [1.0, 2.0, 4.0] and len(client.calls_made) == 4  # type: ignore[attr-defined]


def test_llm_waits_are_capped_at_30_s_even_for_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[Exception] = [_status(503), _status(503), _status(429, "120"), _status(429, "2")]
    client, sleeps = _client(monkeypatch, errors, retries=4, backoff_s=20.0)
    assert client.complete([{"role": "user", "content": "hi"}]).content == "done"
    assert sleeps == [20.0, MAX_DELAY_S, MAX_DELAY_S, 2.0] and MAX_DELAY_S == 30.0


def test_llm_a_dropped_connection_is_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[Exception] = [openai.APIConnectionError(request=_REQUEST) for _ in range(5)]
    client, sleeps = _client(monkeypatch, errors, retries=3, backoff_s=1.0)
    with pytest.raises(LLMError, match="cannot reach"):
        client.complete([{"role": "user", "content": "hi"}])
    assert sleeps == [1.0] and len(client.calls_made) == 2  # type: ignore[attr-defined]


def test_token_use_has_one_tally_the_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from osiris.llm.author import Author
    from osiris.llm.session import ChatSession
    from osiris.llm.tools import Toolbox

    client, _ = _client(monkeypatch, [], retries=0)
    assert not hasattr(client, "usage") and not hasattr(client, "calls")
    session = ChatSession.create(tmp_path)
    session.data.tokens = {}  # a resumed session may carry an empty tally
    author = Author(
        client,
        session,
        Toolbox.__new__(Toolbox),
        system_prompt=lambda tools: "sys",
        guard=lambda text: text,
        tools="off",
    )
    author._complete(allow_tools=False)
    author._complete(allow_tools=False)
    assert session.data.tokens == {"prompt": 6, "completion": 8, "estimated": 0}
