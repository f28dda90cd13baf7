"""One family table and one suffix table: every synonym selects the same target in chat, and the
suffixes chat recognises are the runtime's, which the files driver reads too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.spec_cache import default_registry
from osiris.drivers.files.discovery import FilesDiscoverer
from osiris.llm.chat import infer_targets
from osiris.llm.context import build_system_prompt, relevant_components
from osiris.llm.families import PATH_PATTERN, file_kind
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
    assert [t.name for t in FilesDiscoverer().discover(None, path=str(tmp_path / path)).tables] == [name]
    files = DiscoveryResult(tables=(TableInfo(path, (ColumnInfo("id", "int64"),)),), source="data")
    prompt = build_system_prompt(Templates.load(), default_registry(), discovered=[files])  # context._file_kind
    assert "filesystem.csv_extractor" in prompt.components


def test_parquet_suffixes_and_non_data_files() -> None:
    assert file_kind("a.parquet") == file_kind("b.PQ") == "parquet"
    assert file_kind("a.parquet.gz") is None and file_kind("notes.txt") is None and file_kind("x.gz") is None
    assert PATH_PATTERN.findall("join a/b.parquet with c.tsv.gz, not d.txt") == ["a/b.parquet", "c.tsv.gz"]
    with pytest.raises(DriverError, match="not a CSV or Parquet file"):
        FilesDiscoverer().discover(None, path=__file__)


def test_the_files_driver_reads_the_runtimes_suffix_table(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from osiris.runtime import discovery

    assert file_kind is discovery.file_kind
    for name in ("a.csv", "b.tsv.gz", "e.txt", "f.parquet.gz"):
        (tmp_path / name).write_bytes(b"")
    for name in ("c.pq", "d.parquet"):
        pq.write_table(pa.table({"id": [1]}), tmp_path / name)
    found = {t.name for t in FilesDiscoverer().discover(None, path=str(tmp_path)).tables}
    assert found == {"a.csv", "b.tsv.gz", "c.pq", "d.parquet"}
