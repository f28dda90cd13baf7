"""The Supabase REST client never carries the API key through a redirect.

Attack: the API answers with a 3xx pointing at another origin (another port here); a client
that follows it sends the `apikey` header there (httpx strips only `Authorization`).
Osiris follows no redirect at all, same origin included, and says where it pointed.
"""

from __future__ import annotations

import httpx
import pytest

from osiris.drivers.supabase.extractor import SupabaseExtractor
from osiris.drivers.supabase.rest import RedirectRefused
from osiris.drivers.supabase.writer import SupabaseWriter
from osiris.runtime.driver import ResolvedConnection
from osiris.runtime.testing import RecordingContext
from tests.support.http_recorder import recording_server, redirecting_server

KEY = "service-role-key-REDIRECT-7781"


def _connection(url: str) -> ResolvedConnection:
    return ResolvedConnection("supabase", "main", {"url": url, "service_role_key": KEY},
                              frozenset({"service_role_key"}), may_override=frozenset({"schema"}))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_never_receives_the_key(status: int) -> None:
    with recording_server() as elsewhere, redirecting_server(elsewhere.url, status) as api:
        ctx = RecordingContext(config={"table": "orders"}, connection=_connection(api.url))
        with pytest.raises(RedirectRefused) as failure:
            SupabaseExtractor().extract(ctx).read_all()
    assert api.requests and api.saw(KEY)  # the first origin is the alias's own: it gets the key
    assert elsewhere.requests == []  # nothing reached the second origin, with or without the key
    message = str(failure.value)
    assert f"HTTP {status}" in message and elsewhere.url in message and KEY not in message
    assert "`url`" in (failure.value.hint or "")


def test_a_redirect_within_the_same_origin_is_refused_too() -> None:
    with redirecting_server(None) as api:
        ctx = RecordingContext(config={"table": "orders"}, connection=_connection(api.url))
        with pytest.raises(RedirectRefused):
            SupabaseExtractor().extract(ctx).read_all()
    assert [path for _, path, _ in api.requests if path.startswith("/elsewhere")] == []


def test_writes_refuse_redirects_as_well() -> None:
    import pyarrow as pa

    with recording_server() as elsewhere, redirecting_server(elsewhere.url, 307) as api:
        ctx = RecordingContext(config={"table": "orders", "write_mode": "append"}, connection=_connection(api.url))
        data = pa.table({"id": [1, 2]})
        with pytest.raises(RedirectRefused):
            SupabaseWriter().write(ctx, data.to_reader())
    assert not elsewhere.saw(KEY) and elsewhere.requests == []


def test_the_attack_is_real_for_a_client_that_follows_redirects() -> None:
    """Control: the same servers with httpx following redirects deliver the key elsewhere."""
    with recording_server() as elsewhere, redirecting_server(elsewhere.url, 307) as api:
        httpx.get(api.url + "/rest/v1/orders", headers={"apikey": KEY}, follow_redirects=True)
    assert elsewhere.saw(KEY)
