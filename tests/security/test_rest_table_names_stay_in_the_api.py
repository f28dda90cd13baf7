"""A Supabase REST table name reaches only /rest/v1/<table>, never another API of the server.

Attack: the supabase client puts the table name into the request path as text; httpx
percent-encodes `?`, `#` and `%` but keeps `/` and resolves `..`, so a table named
`../../auth/v1/admin/users` sends the service-role key to the Auth admin API (GET lists the
project's users, POST creates one), and `rpc/fn` calls a database function. The name can come
from the OML (`table:`) or from the server's own API schema (a table someone created with
that name in an exposed schema), which chat discovery lists and counts. Now a REST table name
is one path segment, whatever its source; other names are refused before any request, and
discovery leaves them out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest

from osiris.drivers.supabase.extractor import SupabaseExtractor
from osiris.drivers.supabase.writer import SupabaseWriter
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext

KEY = "service-role-key-PATHS-5531"
HOSTILE = ["../../auth/v1/admin/users", "../../storage/v1/bucket", "rpc/drop_everything", "..", ".",
           "orders/../../../auth/v1/admin/users"]


@dataclass
class Api:
    url: str = ""
    paths: list[tuple[str, str]] = field(default_factory=list)

    def outside(self) -> list[tuple[str, str]]:
        """Requests to anything but the API root and a single table segment under it."""
        return [(m, p) for m, p in self.paths
                if not p.startswith("/rest/v1/") or "/" in p.split("?", 1)[0][len("/rest/v1/"):]]


@contextmanager
def rest_api() -> Iterator[Api]:
    """A PostgREST look-alike whose API schema lists `orders` and every HOSTILE name as tables."""
    api = Api()
    definition = {"properties": {"id": {"format": "integer", "description": "<pk/>"}}}
    schema = json.dumps({"definitions": {name: definition for name in ["orders", *HOSTILE]}}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            api.paths.append((self.command, self.path))
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = schema if self.path.split("?")[0] == "/rest/v1/" else b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Range", "0-0/0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _connection(url: str) -> ResolvedConnection:
    return ResolvedConnection("supabase", "main", {"url": url, "service_role_key": KEY},
                              frozenset({"service_role_key"}), may_override=frozenset({"schema"}))


def test_the_attack_is_real_for_the_plain_client() -> None:
    """Control: the supabase client itself sends the key to the Auth admin API."""
    from supabase import create_client

    with rest_api() as api:
        create_client(api.url, KEY).table("../../auth/v1/admin/users").select("*").execute()
    assert ("GET", "/auth/v1/admin/users?select=%2A") in api.paths


@pytest.mark.parametrize("table", HOSTILE)
def test_a_table_name_cannot_reach_another_endpoint(table: str) -> None:
    with rest_api() as api:
        ctx = RecordingContext(config={"table": table}, connection=_connection(api.url))
        with pytest.raises(DriverError) as read:
            SupabaseExtractor().extract(ctx).read_all()
        ctx = RecordingContext(config={"table": table, "write_mode": "append"}, connection=_connection(api.url))
        with pytest.raises(DriverError) as write:
            SupabaseWriter().write(ctx, pa.table({"id": [1]}).to_reader())
    assert api.outside() == []
    assert [m for m, _ in api.paths if m != "GET" or _ != "/rest/v1/"] == []  # only the API schema was read
    assert "one path segment" in str(read.value) and KEY not in str(read.value)
    assert KEY not in str(write.value)  # (the writer may stop earlier: `a.b` is schema a, table b)


def test_discovery_leaves_out_names_that_are_not_tables() -> None:
    with rest_api() as api:
        result = SupabaseExtractor().discover(_connection(api.url), sample_rows=2)
    assert [t.name for t in result.tables] == ["orders"]
    assert api.outside() == []
    assert any(p.startswith("/rest/v1/orders?") for _, p in api.paths)  # control: the real table was read


@pytest.mark.parametrize("table", ["?select=id", "orders#x", "or%2F..%2Fauth", "a\\..\\b"])
def test_other_special_characters_stay_inside_the_table_segment(table: str) -> None:
    """Not refused, because httpx encodes them: the request still names one table."""
    from osiris.drivers.supabase.rest import RestSession
    from osiris.drivers.supabase.settings import rest_settings

    with rest_api() as api:
        connection = _connection(api.url)
        with RestSession(rest_settings(connection)) as session:
            list(session.pages(table, "*", [], [], offset=0, limit=1, page_size=1))
    assert len(api.paths) == 1 and api.outside() == []
