"""A loopback OpenAI-compatible endpoint that answers from a script: `osiris test validation`'s
model, so the chat repair harness runs offline through the real HTTP client.

Each POST to .../chat/completions takes the next scripted reply (plain text, non-streamed);
when the script runs out it answers 500, which the chat reports as an endpoint failure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["LocalHTTPServer", "ReplayEndpoint"]


class LocalHTTPServer:
    """A threaded HTTP server on a free loopback port, serving `handler` inside a `with` block
    (the test suite's OpenAI stand-ins reuse it)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ReplayEndpoint(LocalHTTPServer):
    """`with ReplayEndpoint(["reply 1", ...]) as endpoint: ...endpoint.url...`"""

    def __init__(self, replies: Iterable[str]) -> None:
        self.replies = list(replies)
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def _next(self) -> str | None:
        with self._lock:
            self.requests += 1
            return self.replies.pop(0) if self.replies else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # the harness prints its own report
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = endpoint._next() if self.path.endswith("/chat/completions") else None
                if reply is None:
                    self._send(500, {"error": {"message": "the replay script is exhausted"}})
                    return
                self._send(200, {
                    "id": f"replay-{endpoint.requests}", "object": "chat.completion", "created": 0,
                    "model": "replay",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                })

            def do_GET(self) -> None:  # noqa: N802 - model listing, if the client asks
                self._send(200, {"object": "list", "data": [{"id": "replay", "object": "model"}]})

            def _send(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
