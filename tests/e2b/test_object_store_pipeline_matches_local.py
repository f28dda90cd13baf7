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
