"""The model's context: small, capped, relevant, and free of connection fields."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osiris.compiler.spec_cache import default_registry
from osiris.llm.context import MAX_CONTEXT_TOKENS, build_system_prompt, compact_spec, relevant_components
from osiris.llm.templates import Templates
from osiris.llm.tokens import count_tokens, estimate_tokens, is_exact
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, TableInfo

CONNECTIONS = """version: 1
connections:
  mysql:
    shop: {host: db.internal, database: shop_prod, user: reader_7, password: "${PW}", default: true}
  filesystem:
    lake: {base_dir: /data/lake}
"""


def _connections(tmp_path: Path):
    from osiris.runtime.connections import load_connections_file

    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    return load_connections_file(None, tmp_path)


def _orders() -> DiscoveryResult:
    columns = (
        ColumnInfo("id", "int(11)", primary_key=True),
        ColumnInfo("customer_id", "int(11)"),
        ColumnInfo("total", "decimal(10,2)"),
        ColumnInfo("status", "varchar(16)"),
        ColumnInfo("created_at", "datetime"),
    )
    return DiscoveryResult(
        (TableInfo("orders", columns, row_count=2500), TableInfo("customers", columns[:2], row_count=300)),
        source="@mysql.shop",
    )


def test_minimal_context_is_small() -> None:
    prompt = build_system_prompt(Templates.load(), default_registry(), intent="hello")
    assert 200 <= prompt.tokens <= 400, prompt.tokens
    assert prompt.components == ()
    assert "mysql.extractor" in prompt.text  # every component name is listed


def test_typical_context_and_what_it_holds(tmp_path: Path) -> None:
    conns = _connections(tmp_path)
    prompt = build_system_prompt(
        Templates.load(),
        default_registry(),
        connections=conns,
        intent="copy orders from mysql to parquet",
        discovered=[_orders()],
    )
    assert prompt.tokens <= 800, prompt.tokens
    assert set(prompt.components) >= {"mysql.extractor", "filesystem.parquet_writer"}
    assert "@mysql.shop (default)" in prompt.text and "@filesystem.lake" in prompt.text
    assert "orders (2500 rows): id int(11) PK, customer_id int(11)" in prompt.text
    for field in ("db.internal", "shop_prod", "reader_7", "/data/lake", "${PW}"):
        assert field not in prompt.text  # alias names only, never their fields


def test_context_is_capped(tmp_path: Path) -> None:
    columns = tuple(ColumnInfo(f"column_number_{i}", "varchar(255)") for i in range(60))
    sample = ({c.name: "x" * 30 for c in columns},)
    huge = DiscoveryResult(
        tuple(TableInfo(f"table_{t}", columns, row_count=t, sample=sample) for t in range(300)),
        source="@mysql.shop",
    )
    prompt = build_system_prompt(
        Templates.load(),
        default_registry(),
        connections=_connections(tmp_path),
        intent="join everything in mysql",
        discovered=[huge],
    )
    assert prompt.tokens <= MAX_CONTEXT_TOKENS
    assert prompt.trimmed and "more tables (call discover to see them)" in prompt.text


def test_relevant_components() -> None:
    registry = default_registry()
    assert relevant_components("copy orders from mysql to parquet", registry) == [
        "filesystem.parquet_extractor",
        "filesystem.parquet_writer",
        "mysql.extractor",
        "mysql.writer",
    ]
    assert "duckdb.processor" in relevant_components("revenue per country from data/orders.csv", registry)
    assert relevant_components("hello", registry) == []


def test_compact_spec_hides_connection_fields_and_defaults() -> None:
    line = compact_spec(default_registry().components["mysql.extractor"])
    assert "query" in line and "one of query|table" in line and "fetch_mode=auto|native|bulk|stream" in line
    assert "password" not in line and "host" not in line and 'batch_size": 65536' not in line


def test_the_chars_over_4_estimate_is_close_to_the_real_tokenizer(tmp_path: Path) -> None:
    if not is_exact():  # a dev dependency: CI must have it
        if os.environ.get("CI"):
            pytest.fail("bpe-openai is not installed (CI=true: install the [dev] extra)", pytrace=False)
        pytest.skip("bpe-openai is not installed: only the estimate is available")
    text = build_system_prompt(
        Templates.load(),
        default_registry(),
        connections=_connections(tmp_path),
        intent="copy orders from mysql to parquet",
        discovered=[_orders()],
    ).text
    ratio = estimate_tokens(text) / count_tokens(text)
    assert 0.8 <= ratio <= 1.25, ratio
