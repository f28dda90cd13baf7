"""A real local OpenAI-compatible HTTP server that replays scripted replies and records requests.

openai 3.x talks through httpx2, which no httpx mock intercepts, so tests point the real client
at this server instead. Each POST to /v1/chat/completions takes the next scripted `Reply`:

- text (`Reply(content="...")`), tool calls (`Reply(tool_calls=[("check_oml", {...})])`),
- an HTTP error (`Reply(status=500)`), streamed as SSE when the request asks for `stream: true`
  (content and tool-call arguments arrive in several chunks, then `data: [DONE]`),
- a redirect (`Reply(status=307, location="http://elsewhere/v1/chat/completions")`).

Every request is recorded raw (headers and body bytes) so a test can assert what was sent,
e.g. that no secret byte ever left the process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from osiris.cli.commands.replay_endpoint import LocalHTTPServer

__all__ = ["RecordedRequest", "Reply", "ReplayServer", "yaml_reply"]


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    error_message: str = "scripted error"
    usage: tuple[int, int] = (100, 50)
    """(prompt_tokens, completion_tokens) reported for non-streamed replies."""
    location: str | None = None
    """With a 3xx status: where the reply redirects to."""


def yaml_reply(oml: str, prose: str = "Here is the pipeline.") -> Reply:
    """A reply carrying OML the way a model without tool calling returns it."""
    return Reply(content=f"{prose}\n\n```yaml\n{oml.strip()}\n```\n")


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def text_of_messages(self) -> str:
        """Every message's content and tool-call arguments, joined (for assertions)."""
        parts = []
        for message in self.json.get("messages", []):
            if isinstance(message.get("content"), str):
                parts.append(message["content"])
            for call in message.get("tool_calls") or []:
                parts.append(call["function"]["arguments"])
        return "\n".join(parts)


class ReplayServer(LocalHTTPServer):
    """`with ReplayServer([...]) as server: OpenAI(base_url=server.url, ...)`."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        api_key: str | None = None,
        chooser: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.api_key = api_key
        self.chooser = chooser
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    @property
    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.chooser is not None:
                return self.chooser(body)
            if not self.replies:
                return Reply(status=500, error_message="the replay script is exhausted")
            return self.replies.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                if (
                    server.api_key is not None
                    and self.headers.get("Authorization") != f"Bearer {server.api_key}"
                ):
                    self._error(401, "Incorrect API key provided.", "invalid_api_key")
                    return
                if not self.path.endswith("/chat/completions"):
                    self._error(404, f"unknown path {self.path}", "not_found")
                    return
                body = json.loads(raw or b"{}")
                reply = server._next(body)
                if reply.location is not None:
                    self.send_response(reply.status)
                    self.send_header("Location", reply.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif reply.status != 200:
                    self._error(reply.status, reply.error_message, "scripted")
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, _completion(body, reply))

            def do_GET(self) -> None:  # noqa: N802 - recorded too (a 302 turns a POST into a GET)
                with server._lock:
                    server.requests.append(
                        RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, b"")
                    )
                self._error(404, f"unknown path {self.path}", "not_found")

            def _error(self, status: int, message: str, code: str) -> None:
                self._json(
                    status,
                    {
                        "error": {
                            "message": message,
                            "type": "invalid_request_error",
                            "code": code,
                            "param": None,
                        }
                    },
                )

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _chunks(body, reply):
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _tool_call(index: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{index}_{name}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [_tool_call(i, n, a) for i, (n, a) in enumerate(reply.tool_calls)]
    prompt, completion = reply.usage
    return {
        "id": "chatcmpl-replay",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "m"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _chunks(body: dict[str, Any], reply: Reply) -> Iterable[dict[str, Any]]:
    """Content in small pieces; each tool call's arguments split across several chunks."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-replay",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    if reply.content:
        for piece in _pieces(reply.content):
            yield chunk({"content": piece})
    for index, (name, arguments) in enumerate(reply.tool_calls):
        call = _tool_call(index, name, arguments)
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(call["function"]["arguments"], 11):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
