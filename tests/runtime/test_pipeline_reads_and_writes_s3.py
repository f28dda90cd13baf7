"""A whole `osiris run` from local CSV to a partitioned Parquet dataset on S3 (moto on 127.0.0.1)
and back: the step names `connection: "@s3.lake"`, whose endpoint and keys come from
osiris_connections.yaml through `${VAR}` (the one resolver, runtime.connections); the keys
appear in no session file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from osiris.runtime.run import RunRequest, run
from tests.conftest import _unavailable
from tests.support.object_stores import Store, start_store

pytestmark = pytest.mark.timeout(60)

KEY_ID, SECRET = "AKIAOSIRISTEST0001", "osiris-moto-secret-value-0001"


@pytest.fixture(scope="module")
def s3() -> Iterator[Store]:
    try:
        running = start_store("s3")
    except Exception as error:  # noqa: BLE001
        _unavailable("moto", error)
    yield running
    running.stop()


PIPELINE = """oml_version: "0.1.0"
name: lake
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {{path: data/orders.csv}}
  - id: publish
    component: filesystem.parquet_writer
    needs: [read]
    config:
      connection: "@s3.lake"
      path: s3://{bucket}/orders/
      partition_by: [country]
  - id: back
    component: filesystem.parquet_extractor
    needs: [publish]
    config:
      connection: "@s3.lake"
      path: s3://{bucket}/orders/
      filter: "country = 'de'"
  - id: save
    component: filesystem.csv_writer
    needs: [back]
    config: {{path: out/de.csv}}
"""


def test_osiris_run_writes_and_reads_s3_with_keys_from_the_environment(s3: Store, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("id,country\n1,cz\n2,de\n3,de\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE.format(bucket=bucket), encoding="utf-8")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  s3:\n    lake:\n      region: us-east-1\n"
        f"      endpoint: {s3.fields['endpoint']}\n"
        "      access_key_id: ${LAKE_KEY_ID}\n      secret_access_key: ${LAKE_SECRET}\n", encoding="utf-8")
    # moto accepts any key; the run must take these from the environment it is given
    outcome = run(RunRequest(pipeline=Path("p.yaml"), work_dir=tmp_path, session_root=tmp_path / "sessions",
                             env={"LAKE_KEY_ID": KEY_ID, "LAKE_SECRET": SECRET}))
    assert outcome.exit_code == 0, outcome.status
    assert (tmp_path / "out" / "de.csv").read_text(encoding="utf-8").splitlines() == ['id,country', '2,"de"',
                                                                                      '3,"de"']
    for file in (tmp_path / "sessions").rglob("*"):
        if file.is_file():
            text = file.read_text(encoding="utf-8", errors="replace")
            assert SECRET not in text and KEY_ID not in text, file


def test_osiris_run_without_the_variables_fails_the_step_naming_them(s3: Store, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("id,country\n1,cz\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE.format(bucket=bucket), encoding="utf-8")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  s3:\n    lake:\n      endpoint: " + s3.fields["endpoint"] +
        "\n      access_key_id: ${LAKE_KEY_ID}\n      secret_access_key: ${LAKE_SECRET}\n", encoding="utf-8")
    outcome = run(RunRequest(pipeline=Path("p.yaml"), work_dir=tmp_path, session_root=tmp_path / "sessions", env={}))
    assert outcome.exit_code != 0
    assert "LAKE_KEY_ID" in outcome.status["steps"]["publish"]["error"]["message"]
