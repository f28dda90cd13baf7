"""`osiris mcp`: serve cli/mcp_server.py on stdio (an editor starts it) or streamable HTTP.

HTTP listens on 127.0.0.1 by default. Any other address needs a token, read from
OSIRIS_MCP_TOKEN (never from the command line, where other users of the machine can see it),
and every request must then carry `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from osiris.cli.exits import ExitCode

TOKEN_VARIABLE = "OSIRIS_MCP_TOKEN"


def add_mcp_parser(sub: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """Register `osiris mcp` (argparse only: cheap at start-up)."""
    mcp = sub.add_parser("mcp", help="serve the compiler and discovery to AI assistants (Model Context Protocol)")
    mcp.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                     help="stdio (an editor starts `osiris mcp`), or streamable HTTP (default stdio)")
    mcp.add_argument("--host", default="127.0.0.1",
                     help=f"HTTP address (default 127.0.0.1; any other needs {TOKEN_VARIABLE})")
    mcp.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    mcp.add_argument("--allow-run", action="store_true", help="also offer the `run` tool (runs pipelines)")
    mcp.add_argument("--connections", metavar="FILE", help="connections file (default: from the settings)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequireToken:
    """ASGI middleware: every HTTP request carries `Authorization: Bearer <token>`, else 401."""

    def __init__(self, app: Any, token: str) -> None:  # noqa: ANN401
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: ANN401
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"a bearer token is required\n"})
                return
        await self.app(scope, receive, send)


def http_app(server: Any, host: str, token: str | None) -> Any:  # noqa: ANN401
    """The server's streamable-HTTP app, behind the token check when there is a token."""
    app = server.streamable_http_app(host=host)
    return RequireToken(app, token) if token else app


def mcp_command(args: argparse.Namespace) -> int:
    from osiris.cli.extras import require_extra

    require_extra("mcp")  # a missing extra is named, exit 2 (cli/guard.py)
    token = os.environ.get(TOKEN_VARIABLE) or None
    if args.transport == "http" and not _loopback(args.host) and token is None:
        sys.stderr.write(f"osiris mcp: error: --host {args.host} is reachable from other machines; "
                         f"set {TOKEN_VARIABLE} to a secret token first\n")
        return ExitCode.USAGE
    from osiris.cli.mcp_server import build_server

    root = Path(getattr(args, "project_root", None) or Path.cwd())
    server = build_server(root, connections=args.connections, allow_run=args.allow_run)
    if args.transport == "stdio":
        server.run("stdio")
        return ExitCode.OK
    import uvicorn

    sys.stderr.write(f"osiris mcp: serving http://{args.host}:{args.port}/mcp"
                     + (" (bearer token required)" if token else "") + "\n")
    uvicorn.run(http_app(server, args.host, token), host=args.host, port=args.port, log_level="warning")
    return ExitCode.OK
