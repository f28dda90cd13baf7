"""Datasets written from a sandbox are what a local run writes.

A pipeline that reads a dataset from an object store and writes one back writes the same
objects, byte for byte, on S3 (moto), Azure (Azurite) and GCS (the emulator); the sandbox gets
the store's alias over its stdin like any connection. A local dataset directory (partition_by,
rotation) comes home byte-identical, replaces the old one whole, and `overwrite: false`
keeps an existing one, as locally."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2b.helpers import run_pipeline
from tests.support.object_stores import Store, lake_project, store_fixture, store_objects

pytestmark = pytest.mark.timeout(180)


store = store_fixture()


def test_the_sandbox_writes_the_same_objects_as_the_local_run(store: Store, tmp_path: Path) -> None:
    written = {}
    for where in ("local", "sandbox"):
        bucket, target = lake_project(store, tmp_path / where, "out")
        outcome, _ = run_pipeline(tmp_path / where, "p.yaml", sandbox=where == "sandbox",
                                  connections="osiris_connections.yaml")
        assert outcome.exit_code == 0, (where, outcome.status["steps"]["save"].get("error"))
        assert outcome.status["outputs"][0]["target"] == target and outcome.status["totals"]["rows_written"] == 37
        written[where] = store_objects(store, bucket, "out")
    assert sorted(written["local"]) == ["country=cz/part-00000.parquet", "country=de/part-00000.parquet"]
    assert written["sandbox"] == written["local"]


LOCAL_DATASET = """oml_version: "0.1.0"
name: ds
steps:
  - id: r
    component: filesystem.parquet_extractor
    config: {path: data/in.parquet}
  - id: w
    component: filesystem.parquet_writer
    inputs: {df: "${r.df}"}
    config: {path: out/ds/, partition_by: [country]}
"""


def _dataset_project(work: Path, overwrite: bool = True) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (work / "data").mkdir(parents=True)
    (work / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    pq.write_table(pa.table({"id": list(range(30)), "country": ["cz", "de", "fr"] * 10}), work / "data/in.parquet")
    text = LOCAL_DATASET.replace("partition_by: [country]", "partition_by: [country], max_rows_per_file: 4")
    (work / "p.yaml").write_text(text if overwrite else text.replace("max_rows_per_file: 4", "max_rows_per_file: 4, "
                                                                     "overwrite: false"), encoding="utf-8")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_local_dataset_directory_comes_home_whole_and_byte_identical(tmp_path: Path) -> None:
    trees = {}
    for where in ("local", "sandbox"):
        _dataset_project(tmp_path / where)
        (tmp_path / where / "out/ds/country=xx").mkdir(parents=True)  # an old dataset: replaced whole
        (tmp_path / where / "out/ds/country=xx/part-00000.parquet").write_bytes(b"old")
        outcome, _ = run_pipeline(tmp_path / where, "p.yaml", sandbox=where == "sandbox")
        assert outcome.exit_code == 0, outcome.status["steps"]["w"].get("error")
        trees[where] = _tree(tmp_path / where / "out")
        assert sorted(os.listdir(tmp_path / where / "out")) == ["ds"], "no staging left"
    assert len(trees["local"]) == 9 and not any("xx" in name for name in trees["local"])
    assert trees["sandbox"] == trees["local"]


def test_overwrite_false_keeps_an_existing_dataset_as_locally(tmp_path: Path) -> None:
    for where in ("local", "sandbox"):
        _dataset_project(tmp_path / where, overwrite=False)
        (tmp_path / where / "out/ds").mkdir(parents=True)
        (tmp_path / where / "out/ds/mine.txt").write_text("keep", encoding="utf-8")
        outcome, _ = run_pipeline(tmp_path / where, "p.yaml", sandbox=where == "sandbox")
        assert outcome.exit_code != 0
        assert "already exists and overwrite is false" in outcome.status["steps"]["w"]["error"]["message"]
        assert _tree(tmp_path / where / "out") == {"ds/mine.txt": b"keep"}
