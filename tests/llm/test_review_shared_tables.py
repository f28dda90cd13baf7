"""One backoff formula, one family/suffix table, one token tally, and a failing schema probe
that never serves a stale cache entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from osiris.compiler.spec_cache import default_registry
from osiris.llm.chat import infer_targets
from osiris.llm.client import MAX_DELAY_S, ChatClient, LLMError, LLMSettings, Reply, Usage
from osiris.llm.context import build_system_prompt, relevant_components
from osiris.llm.discovery import DiscoveryService, _file_components
from osiris.llm.families import FILE_COMPONENTS, PATH_PATTERN, file_kind
from osiris.llm.templates import Templates
from osiris.runtime.backoff import backoff_delay, retry
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo

# -- oml.backoff -----------------------------------------------------------------------------


def test_backoff_delay_doubles_from_base_and_stops_at_the_cap() -> None:
    assert [backoff_delay(0.5, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [backoff_delay(1.0, n, 30.0) for n in (1, 5, 6, 7)] == [1.0, 16.0, 30.0, 30.0]
    assert backoff_delay(1.0, 0) == 1.0 and backoff_delay(-1.0, 3) == 0.0 and backoff_delay(0, 9, 5) == 0.0


def test_retry_counts_attempts_in_all_and_only_retries_transient_errors() -> None:
    calls, sleeps, seen = [], [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    result = retry(
        flaky,
        lambda e: isinstance(e, ConnectionError),
        attempts=3,
        base=1.0,
        cap=1.5,
        sleep=sleeps.append,
        on_retry=lambda n, e, d: seen.append((n, str(e), d)),
    )
    assert result == "ok" and sleeps == [1.0, 1.5] and seen == [(1, "reset", 1.0), (2, "reset", 1.5)]

    calls.clear()
    sleeps.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: True, attempts=2, base=0.1, sleep=sleeps.append)
    assert len(calls) == 2 and sleeps == [0.1]

    calls.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: False, attempts=5, base=0.1, sleep=sleeps.append)
    assert len(calls) == 1

    calls.clear()
    with pytest.raises(ConnectionError):
        retry(flaky, lambda e: True, attempts=0, base=0.1, sleep=sleeps.append)  # still called once
    assert len(calls) == 1


# -- the LLM client keeps its documented semantics -------------------------------------------

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


# -- one family table, one suffix table -------------------------------------------------------


def _pg_connections(project: Path) -> Any:
    from osiris.runtime.connections import load_connections_file

    (project / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    shop: {database: s, user: u}\n"
        "  postgres:\n    wh: {host: h, database: d, user: u}\n"
    )
    return load_connections_file(None, project)


@pytest.mark.parametrize("word", ["pg", "psql", "postgresql", "postgres", "PG"])
def test_every_postgres_synonym_selects_the_postgres_target(tmp_path: Path, word: str) -> None:
    conns = _pg_connections(tmp_path)
    assert infer_targets(f"copy orders from {word} to parquet", conns, tmp_path) == ["@postgres.wh"]
    assert "postgres.extractor" in relevant_components(f"copy orders from {word}", default_registry())


def test_mariadb_names_mysql(tmp_path: Path) -> None:
    assert infer_targets("load it from mariadb", _pg_connections(tmp_path), tmp_path) == ["@mysql.shop"]


@pytest.mark.parametrize("name", ["orders.tsv.gz", "orders.csv.gz", "ORDERS.TSV", "orders.csv.zst", "o.csv.bz2"])
def test_compressed_and_tsv_files_are_csv_family_everywhere(tmp_path: Path, name: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / name).write_bytes(b"")
    path = f"data/{name}"
    assert file_kind(name) == "csv"
    assert infer_targets(f"load {path} into duckdb", None, tmp_path) == [path]  # chat
    assert "filesystem.csv_extractor" in relevant_components(f"load {path}", default_registry())  # context
    assert _file_components(tmp_path / path) == ["filesystem.csv_extractor"]  # discovery
    files = DiscoveryResult(tables=(TableInfo(path, (ColumnInfo("id", "int64"),)),), source="data")
    prompt = build_system_prompt(Templates.load(), default_registry(), discovered=[files])  # context._file_kind
    assert "filesystem.csv_extractor" in prompt.components


def test_parquet_suffixes_and_non_data_files() -> None:
    assert file_kind("a.parquet") == file_kind("b.PQ") == "parquet"
    assert file_kind("a.parquet.gz") is None and file_kind("notes.txt") is None and file_kind("x.gz") is None
    assert PATH_PATTERN.findall("join a/b.parquet with c.tsv.gz, not d.txt") == ["a/b.parquet", "c.tsv.gz"]
    assert sorted(FILE_COMPONENTS.values()) == ["filesystem.csv_extractor", "filesystem.parquet_extractor"]
    with pytest.raises(DriverError, match="not a CSV or Parquet file"):
        _file_components(Path(__file__))


def test_suffix_table_matches_the_file_drivers() -> None:
    from osiris.drivers.files import discovery as files
    from osiris.llm.families import COMPRESSED_SUFFIXES, FILE_SUFFIXES

    assert FILE_SUFFIXES == files._EXTENSIONS
    assert COMPRESSED_SUFFIXES["csv"] == files._COMPRESSED and not COMPRESSED_SUFFIXES["parquet"]


# -- a failing schema probe is a miss and is not cached ---------------------------------------


class _Rows:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def read_all(self) -> _Rows:
        return self

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.rows


class FakeDatabase:
    """A MySQL extractor stand-in: the schema probe runs through `extract`, discovery through `discover`."""

    def __init__(self) -> None:
        self.columns = ["id"]
        self.probe_fails = False
        self.discover_calls = 0

    def __call__(self, component: str) -> FakeDatabase:
        return self

    def extract(self, ctx: Any) -> _Rows:
        if self.probe_fails:
            raise DriverError("information_schema is not readable")
        return _Rows([{"n": str(len(self.columns)), "h": "|".join(self.columns)}])

    def discover(self, connection: Any, **kwargs: Any) -> DiscoveryResult:
        self.discover_calls += 1
        columns = tuple(ColumnInfo(c, "int") for c in self.columns)
        return DiscoveryResult(tables=(TableInfo("orders", columns),), source=connection.ref)


def _fake_service(tmp_path: Path, db: FakeDatabase) -> DiscoveryService:
    service = DiscoveryService(cwd=tmp_path, env={}, cache_dir=tmp_path / "cache", driver_factory=db)
    connection = ResolvedConnection("mysql", "shop", {"host": "db", "database": "shop", "user": "u"})
    service.resolve = lambda ref: connection  # type: ignore[method-assign]
    return service


def _columns(result: DiscoveryResult) -> list[str]:
    return [c.name for c in result.tables[0].columns]


def test_a_probe_that_keeps_failing_never_serves_a_stale_schema(tmp_path: Path) -> None:
    db = FakeDatabase()
    db.probe_fails = True
    service = _fake_service(tmp_path, db)
    assert _columns(service.discover("@mysql.shop")) == ["id"]
    assert not list((tmp_path / "cache").glob("*.json"))  # nothing cached without a fingerprint
    db.columns = ["id", "total"]  # ALTER TABLE while the probe still fails
    assert _columns(service.discover("@mysql.shop")) == ["id", "total"]
    assert db.discover_calls == 2 and service.hits == 0 and service.misses == 2

    db.probe_fails = False  # the probe works again: cached, then hit
    service.discover("@mysql.shop")
    assert _columns(service.discover("@mysql.shop")) == ["id", "total"] and db.discover_calls == 3
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert [e["schema_fp"].startswith("sha256:") for e in entries] == [True]


def test_a_failing_probe_ignores_an_entry_cached_when_it_worked(tmp_path: Path) -> None:
    db = FakeDatabase()
    service = _fake_service(tmp_path, db)
    service.discover("@mysql.shop")
    db.probe_fails, db.columns = True, ["id", "note"]
    assert _columns(service.discover("@mysql.shop")) == ["id", "note"] and db.discover_calls == 2


def test_an_old_unavailable_entry_is_never_a_hit(tmp_path: Path) -> None:
    db = FakeDatabase()
    service = _fake_service(tmp_path, db)
    service.discover("@mysql.shop")
    (entry,) = (tmp_path / "cache").glob("*.json")
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, "schema_fp": "unavailable"}))  # what older versions stored
    for fails in (True, False):
        db.probe_fails = fails
        service.discover("@mysql.shop")
    assert db.discover_calls == 3 and service.hits == 0
