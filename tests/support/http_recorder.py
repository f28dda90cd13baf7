"""HTTP servers for credential tests: one that records every request's headers, one that
answers everything with a redirect (to another origin, or to itself)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Recorded", "recording_server", "redirecting_server"]


@dataclass
class Recorded:
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(method, path, headers) of every request received."""

    def saw(self, secret: str) -> bool:
        return any(secret in path or any(secret in v for v in headers.values())
                   for _, path, headers in self.requests)


def _handler(state: Recorded, status: int, location: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            state.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(status)
            if location is not None:
                origin = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                self.send_header("Location", location.replace("{self}", origin).replace("{path}", self.path))
            body = b"[]" if location is None else b""
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = _any

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def _serve(state: Recorded, status: int, location: str | None, host: str) -> Iterator[Recorded]:
    server = ThreadingHTTPServer((host, 0), _handler(state, status, location))
    state.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="http-recorder", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def recording_server(host: str = "127.0.0.1") -> Iterator[Recorded]:
    """Answers 200 `[]` to everything and records it."""
    with _serve(Recorded(), 200, None, host) as state:
        yield state


@contextmanager
def redirecting_server(target: str | None, status: int = 307, host: str = "127.0.0.1") -> Iterator[Recorded]:
    """Answers every request with `status` to `target` + the request's path (None: to another
    path of its own origin)."""
    location = (target.rstrip("/") if target is not None else "{self}/elsewhere") + "{path}"
    with _serve(Recorded(), status, location, host) as state:
        yield state
