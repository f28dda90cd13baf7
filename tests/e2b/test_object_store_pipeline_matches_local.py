"""A pipeline that reads a dataset from an object store and writes one back runs in the sandbox
as it runs locally: the same objects, byte for byte, on S3 (moto), Azure (Azurite) and GCS (the
emulator). The sandbox gets the store's alias over its stdin like any connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _unavailable
from tests.e2b.helpers import run_pipeline
from tests.support.object_stores import Store, lake_project, start_store, store_objects

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module", params=["s3", "azure", "gcs"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    try:
        running = start_store(request.param)
    except Exception as error:  # noqa: BLE001 - any failure to start is "unavailable"
        _unavailable(f"the {request.param} emulator", error)
    yield running
    running.stop()


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


def test_a_local_dataset_directory_is_refused_before_a_sandbox_is_created(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    (tmp_path / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    pq.write_table(pa.table({"id": [1, 2], "country": ["cz", "de"]}), tmp_path / "data/in.parquet")
    (tmp_path / "p.yaml").write_text(LOCAL_DATASET, encoding="utf-8")
    outcome, executor = run_pipeline(tmp_path, "p.yaml", sandbox=True)
    error = outcome.status["steps"]["w"]["error"]
    assert outcome.exit_code != 0 and "cannot be downloaded from an E2B sandbox yet" in error["message"]
    assert "object store" in error["hint"] and not (tmp_path / "out").exists()
    assert executor is not None and executor.transport.created == [], "refused before a sandbox was paid for"
    local, _ = run_pipeline(tmp_path, "p.yaml", sandbox=False)
    assert local.exit_code == 0 and sorted(p.name for p in (tmp_path / "out/ds").iterdir()) == ["country=cz",
                                                                                                 "country=de"]
