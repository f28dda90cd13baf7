"""Contract checks of the PostgREST stand-in itself, through the real supabase client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError

from tests.support.postgrest import PostgrestStandIn, running


@pytest.fixture(scope="module")
def client(postgres_db: dict) -> Iterator:
    from supabase import ClientOptions, create_client

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 0)")
        conn.execute('CREATE TABLE "odd""name" ("we""ird" text)')
    with running(PostgrestStandIn(postgres_db["dsn"])) as api, httpx.Client() as http:
        yield create_client(api.url, "anything", options=ClientOptions(httpx_client=http)), api


@pytest.mark.postgres
def test_crud_over_one_keep_alive_connection(client) -> None:
    supabase, api = client
    items = supabase.table("items")
    items.insert([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]).execute()
    assert supabase.table("items").update({"qty": 5}).eq("id", 2).execute().data == [
        {"id": 2, "name": "b", "qty": 5}
    ]
    assert supabase.table("items").delete().eq("id", 1).execute().data[0]["id"] == 1  # DELETE sends a {} body
    upserted = supabase.table("items").upsert(
        [{"id": 2, "name": "B"}, {"id": 3, "name": "c"}], on_conflict="id"
    )
    assert len(upserted.execute().data) == 2
    response = (
        supabase.table("items").select("id,label:name", count="exact").order("id").range(0, 0).execute()
    )
    assert response.data == [{"id": 2, "label": "B"}] and response.count == 2
    assert [r["method"] for r in api.requests] == ["POST", "PATCH", "DELETE", "POST", "GET"]


@pytest.mark.postgres
def test_errors_are_postgrest_shaped(client) -> None:
    supabase, _ = client
    with pytest.raises(APIError) as info:
        supabase.table("items").insert({"id": 9}).execute()
    assert info.value.code == "23502" and "null value" in info.value.message
    with pytest.raises(APIError) as info:
        supabase.table("items").select("*").filter("id", "nope", "1").execute()
    assert info.value.code == "PGRST100"
    with pytest.raises(APIError) as info:
        supabase.table("absent").select("*").execute()
    assert info.value.code == "PGRST205"


@pytest.mark.postgres
def test_identifiers_and_values_cannot_inject(client) -> None:
    supabase, _ = client
    supabase.table('odd"name').insert({'we"ird': "x'); DROP TABLE items; --"}).execute()
    rows = supabase.table('odd"name').select("*").eq('we"ird', "x'); DROP TABLE items; --").execute().data
    assert rows == [{'we"ird': "x'); DROP TABLE items; --"}]
    assert supabase.table("items").select("id").execute().data  # still there


@pytest.mark.postgres
def test_range_header_and_missing_key(client) -> None:
    supabase, api = client
    supabase.table("items").upsert([{"id": i, "name": f"n{i}"} for i in range(10, 15)]).execute()
    url = f"{api.url}/rest/v1/items?select=id&id=gte.10&order=id"
    with httpx.Client() as http:
        response = http.get(url, headers={"apikey": "k", "Range": "1-2", "Prefer": "count=exact"})
        assert response.json() == [{"id": 11}, {"id": 12}]
        assert response.headers["Content-Range"] == "1-2/5"
        response = http.get(url)
        assert response.status_code == 401 and response.json()["code"] == "PGRST301"
        assert set(response.json()) == {"code", "message", "details", "hint"}
