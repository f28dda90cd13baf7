"""`--backend ray` reads a dataset from an object store in several tasks and writes one back with
the same rows as the local backend, on S3 (moto), Azure (Azurite) and GCS (the emulator)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ray.helpers import run_in
from tests.support.object_stores import Store, lake_project, store_fixture, store_objects

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


store = store_fixture()


def _rows(objects: dict[str, bytes]) -> list[tuple]:
    rows = []
    for name, data in objects.items():
        country = name.split("/")[0].removeprefix("country=")
        table: pa.Table = pq.read_table(io.BytesIO(data))
        rows += [(r["id"], country, r["doubled"]) for r in table.to_pylist()]
    return sorted(rows)


def test_ray_writes_the_rows_the_local_backend_writes(store: Store, tmp_path: Path, ray_cluster) -> None:  # noqa: ANN001
    written = {}
    for backend in ("local", "ray"):
        bucket, target = lake_project(store, tmp_path / backend, "out")
        ran = run_in(tmp_path / backend, "p.yaml", backend=backend, connections="osiris_connections.yaml")
        assert ran.outcome.exit_code == 0, ran.status
        assert ran.status["outputs"][0]["target"] == target
        written[backend] = store_objects(store, bucket, "out")
        if backend == "ray":
            reads = [e for e in ran.named("partition_complete") if e["step_id"] == "orders"]
            assert len(reads) == 3, "the 4 seeded objects are read by 3 tasks (row-group runs), not one"
    assert {n.split("/")[0] for n in written["ray"]} == {"country=cz", "country=de"}
    assert _rows(written["ray"]) == _rows(written["local"]) and len(_rows(written["local"])) == 37
