"""One family table and one suffix table: every synonym selects the same target in chat, and the
suffixes chat recognises are the file drivers' own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.spec_cache import default_registry
from osiris.llm.chat import infer_targets
from osiris.llm.context import build_system_prompt, relevant_components
from osiris.llm.discovery import _file_components
from osiris.llm.families import FILE_COMPONENTS, PATH_PATTERN, file_kind
from osiris.llm.templates import Templates
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, TableInfo


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
