"""No secret reaches what Ray keeps: its control store (task events, actors, jobs, nodes, workers,
the internal key-value store) and the files of its session (logs of every worker and daemon).

Workers resolve connections themselves from the connections file and their own environment, so
task arguments carry only a path and a reference: the pickled arguments of every task the
coordinator submits are checked too (Ray keeps small ones inline in the task's specification).
The object store's contents (the rows) are outside the claim. The positive control plants a
second canary where Ray does keep it (a task's `runtime_env`) and checks the scan finds it, so the
scan cannot pass by looking nowhere.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ray.conftest import CANARY
from tests.ray.helpers import run_in, workspace

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LITERAL = f"literal-{uuid.uuid4().hex}"

PIPELINE = """\
oml_version: "0.1.0"
name: secrets
steps:
  - id: src
    component: filesystem.parquet_extractor
    config: {path: data/rows.parquet}
  - id: load
    component: postgres.writer
    needs: [src]
    config: {connection: "@postgres.env_secret", table: ray_secret_target, write_mode: replace, create_if_missing: true}
  - id: read-back
    component: postgres.extractor
    needs: [load]
    config: {connection: "@postgres.file_secret", table: ray_secret_target}
  - id: broken
    component: postgres.extractor
    config: {connection: "@postgres.env_secret", query: "SELECT * FROM no_such_table_here"}
  - id: out
    component: filesystem.parquet_writer
    needs: [read-back]
    config: {path: out/back.parquet}
"""


def _connections(database: str) -> str:
    return f"""version: 1
connections:
  postgres:
    env_secret:
      host: 127.0.0.1
      port: 5432
      database: {database}
      user: postgres
      password: ${{OSIRIS_RAY_CANARY}}
    file_secret:
      host: 127.0.0.1
      port: 5432
      database: {database}
      user: postgres
      password: {LITERAL}
"""


def _everything_ray_keeps(ray) -> str:  # noqa: ANN001
    import ray._private.state as state
    from ray.experimental import internal_kv

    worker = ray._private.worker.global_worker
    parts = [str(state.state._get_all_task_events()), str(state.state.actor_table(None)),
             str(state.state.job_table()), str(state.state.node_table()), str(ray.nodes())]
    for namespace in (None, "fun", "session", "cluster", "dashboard", "job", "runtime_env", "default", "serve"):
        for key in internal_kv._internal_kv_list("", namespace=namespace):
            parts.append(repr(key))
            parts.append(repr(internal_kv._internal_kv_get(key, namespace=namespace)))
    session = Path(worker.node.get_session_dir_path())
    for path in session.rglob("*"):
        if path.is_file() and not path.is_symlink() and "plasma" not in path.name:
            try:
                parts.append(path.read_bytes().decode("utf-8", "replace"))
            except OSError:
                continue
    return "\n".join(parts)


class _Recording:
    """Wraps a remote function: keeps the pickled arguments of every task it submits."""

    def __init__(self, inner, sent: list[bytes]) -> None:  # noqa: ANN001
        self.inner, self.sent = inner, sent

    def options(self, **options):  # noqa: ANN003, ANN201
        return _Recording(self.inner.options(**options), self.sent)

    def remote(self, *args):  # noqa: ANN002, ANN201
        from ray import cloudpickle

        plain = [a for a in args if type(a).__name__ != "ObjectRef"]
        self.sent.append(cloudpickle.dumps(plain))
        return self.inner.remote(*args)


def test_no_secret_in_what_ray_keeps(tmp_path, ray_cluster, postgres_db, monkeypatch):
    from osiris.runtime.ray import executor

    sent: list[bytes] = []
    original = executor._Coordinator.__init__

    def recording(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        original(self, *args, **kwargs)
        for name in ("remote_stage", "remote_plan", "remote_split"):
            setattr(self, name, _Recording(getattr(self, name), sent))

    monkeypatch.setattr(executor._Coordinator, "__init__", recording)
    rows = pa.table({"id": list(range(5000)), "name": [f"n{i}" for i in range(5000)]})
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink, row_group_size=500)
    work = workspace(tmp_path / "w", {"pipeline.yaml": PIPELINE, "osiris_connections.yaml":
                                      _connections(postgres_db["database"]),
                                      "data/rows.parquet": sink.getvalue().to_pybytes()})
    ran = run_in(work, "pipeline.yaml", backend="ray", partitions=3, connections="osiris_connections.yaml")
    assert ran.status["steps"]["read-back"]["status"] == "succeeded", ran.status
    assert ran.status["steps"]["broken"]["status"] == "failed"  # an error message travelled too
    assert pq.read_table(work / "out" / "back.parquet").num_rows == 5000

    @ray_cluster.remote(runtime_env={"env_vars": {"PLANTED": "planted-" + CANARY[::-1]}})
    def planted() -> int:
        return 1

    assert ray_cluster.get(planted.remote()) == 1
    kept = _everything_ray_keeps(ray_cluster)
    assert "planted-" + CANARY[::-1] in kept  # the scan reads where Ray keeps things
    assert CANARY not in kept
    assert LITERAL not in kept
    arguments = b"".join(sent)
    assert b"ray_secret_target" in arguments and b"osiris_connections.yaml" in arguments  # what tasks do get
    assert CANARY.encode() not in arguments and LITERAL.encode() not in arguments
    session_files = "".join(p.read_text(encoding="utf-8", errors="replace")
                            for p in ran.outcome.session.dir.rglob("*") if p.is_file())
    assert CANARY not in session_files and LITERAL not in session_files
