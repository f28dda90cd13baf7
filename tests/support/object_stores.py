"""Real object-store servers on 127.0.0.1 for the tests: moto (S3), Azurite (Azure Blob) and
gcp-storage-emulator (GCS), each started by `start_store(kind)` and stopped by its `stop()`.

Azurite is an npm package: it is installed on first use into ~/.cache/osiris-emulators/azurite
(`npm install azurite`), or found there after `.ci/run` installed it. Under CI=true an emulator
that cannot start is a failure (the caller's `_unavailable`), never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.runtime.driver import ResolvedConnection

AZURITE_VERSION = "3.37.0"
AZURITE_DIR = Path(os.environ.get("OSIRIS_EMULATORS", Path.home() / ".cache" / "osiris-emulators")) / "azurite"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's published development account (not a secret: every Azurite install has it)."""

SCHEME = {"s3": "s3", "gcs": "gs", "azure": "az"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


@dataclass
class Store:
    """A running emulator: its connection family, the fields of an alias for it, and a bucket."""

    kind: str
    fields: dict[str, Any]
    secret_fields: frozenset[str]
    stop_hooks: list[Any] = field(default_factory=list)

    def connection(self, alias: str = "lake") -> ResolvedConnection:
        return ResolvedConnection(family=self.kind, alias=alias, fields=self.fields, secret_fields=self.secret_fields)

    def uri(self, bucket: str, key: str = "") -> str:
        return f"{SCHEME[self.kind]}://{bucket}/{key}"

    def new_bucket(self) -> str:
        """A fresh, empty bucket (container), created through pyarrow.fs."""
        from osiris.drivers.common.objectstore import open_store

        name = f"t{uuid.uuid4().hex[:12]}"
        location = open_store(self.connection(), self.uri(name, "x"))
        location.fs.create_dir(name)
        return name

    def stop(self) -> None:
        for hook in reversed(self.stop_hooks):
            hook()


def _moto() -> Store:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    fields = {"endpoint": f"http://127.0.0.1:{port}", "region": "us-east-1",
              "access_key_id": "testing", "secret_access_key": "testing"}
    return _S3Store("s3", fields, frozenset({"access_key_id", "secret_access_key"}), [server.stop])


class _S3Store(Store):
    def new_bucket(self) -> str:
        """The writer's file system never creates buckets; the test's own one does."""
        import pyarrow.fs as pafs

        name = f"t{uuid.uuid4().hex[:12]}"
        pafs.S3FileSystem(access_key="testing", secret_key="testing", scheme="http", region="us-east-1",
                          endpoint_override=self.fields["endpoint"].split("://", 1)[1],
                          allow_bucket_creation=True).create_dir(name)
        return name


def azurite_binary() -> Path:
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (Azurite is an npm package)")
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(AZURITE_DIR),
                        f"azurite@{AZURITE_VERSION}"], check=True, capture_output=True, timeout=600)
    return binary


def _popen(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return process


def _stopper(process: subprocess.Popen[bytes]) -> Any:
    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return stop


def _azurite() -> Store:
    port = free_port()
    process = _popen([str(azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                      "--inMemoryPersistence", "--skipApiVersionCheck", "--silent"], port)
    fields = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY, "endpoint": f"http://127.0.0.1:{port}"}
    return Store("azure", fields, frozenset({"account_key"}), [_stopper(process)])


def _gcs() -> Store:
    port = free_port()
    process = _popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                      "--port", str(port), "--in-memory"], port)
    fields = {"endpoint": f"http://127.0.0.1:{port}", "anonymous": True, "project_id": "osiris-test"}
    return Store("gcs", fields, frozenset(), [_stopper(process)])


def start_store(kind: str) -> Store:
    return {"s3": _moto, "azure": _azurite, "gcs": _gcs}[kind]()


LAKE_PIPELINE = """oml_version: "0.1.0"
name: lake
steps:
  - id: orders
    component: filesystem.parquet_extractor
    config: {{connection: "@{kind}.lake", path: "{source}"}}
  - id: doubled
    component: duckdb.processor
    inputs: {{orders: "${{orders.df}}"}}
    config: {{query: "SELECT id, country, amount * 2 AS doubled FROM orders WHERE amount > 3"}}
  - id: save
    component: filesystem.parquet_writer
    inputs: {{df: "${{doubled.df}}"}}
    config: {{connection: "@{kind}.lake", path: "{target}", partition_by: [country]}}
"""


def lake_project(store: Store, work: Path, out: str) -> tuple[str, str]:
    """A project in `work` whose pipeline (`p.yaml`) reads a seeded dataset from a new bucket and
    writes `out/` there, partitioned; returns (bucket, target URI). The alias is in
    osiris_connections.yaml, as an operator would write it."""
    import json

    import pyarrow as pa

    from osiris.drivers.files.parquet_writer import ParquetWriter
    from osiris.runtime.testing import RecordingContext

    bucket = store.new_bucket()
    table = pa.table({"id": pa.array(range(40), pa.int64()), "country": ["cz", "de"] * 20,
                      "amount": [i * 1.5 for i in range(40)]})
    seed = RecordingContext(config={"path": store.uri(bucket, "in/"), "max_rows_per_file": 10},
                            connection=store.connection(), mode="write")
    ParquetWriter().write(seed, table.to_reader())
    work.mkdir(parents=True, exist_ok=True)
    (work / "osiris.yaml").write_text("version: 1\n", encoding="utf-8")
    (work / "osiris_connections.yaml").write_text(
        json.dumps({"version": 1, "connections": {store.kind: {"lake": store.fields}}}), encoding="utf-8")
    target = store.uri(bucket, f"{out}/")
    (work / "p.yaml").write_text(LAKE_PIPELINE.format(kind=store.kind, source=store.uri(bucket, "in/"),
                                                      target=target), encoding="utf-8")
    return bucket, target


def store_objects(store: Store, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `bucket/prefix/` (relative name -> bytes)."""
    import pyarrow.fs as pafs

    from osiris.drivers.common.objectstore import open_store

    fs = open_store(store.connection(), store.uri(bucket, "x")).fs
    base = f"{bucket}/{prefix}"
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as stream:
                out[info.path[len(base) + 1:]] = stream.read()
    return out


def store_fixture() -> Any:
    """A module-scoped pytest fixture `store`, run once per emulator (s3, azure, gcs); under
    CI=true an emulator that cannot start fails the test (tests.conftest._unavailable)."""
    import pytest

    @pytest.fixture(scope="module", params=["s3", "azure", "gcs"])
    def store(request: pytest.FixtureRequest) -> Any:
        from tests.conftest import _unavailable

        try:
            running = start_store(request.param)
        except Exception as error:  # noqa: BLE001 - any failure to start is "unavailable"
            _unavailable(f"the {request.param} emulator", error)
        yield running
        running.stop()

    return store
