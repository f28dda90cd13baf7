"""A secret goes only to the host written next to it in osiris_connections.yaml.

Attack: a step sets `host:`/`port:` (or `url:`, `user:`, `database:`...) beside an alias's
reference; the driver used to merge them and send the alias's password to that server. Here
a fake PostgreSQL server asks for the password in clear text, a fake MySQL server switches
to `mysql_clear_password`, and an HTTP server records the Supabase key. The compiler refuses
the override (OML077) unless the alias says `allow_override: [...]`; a manifest edited to
carry it anyway (fingerprints recomputed) fails the step at run time before any connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from osiris.compiler.api import CompileOptions, compile_text
from osiris.oml.canonical import fingerprint
from osiris.runtime.connections import RuntimeConnections, load_connections_file
from osiris.runtime.driver import DriverError
from osiris.runtime.secrets import SecretMasker
from tests.support.fake_mysql import fake_mysql, writer_script
from tests.support.fake_pg import fake_postgres
from tests.support.http_recorder import recording_server

PG_SECRET = "pg-Secret-Osiris-5521"
MY_SECRET = "my-Secret-Osiris-7788"
SB_KEY = "sb-service-key-Osiris-9911"
ENV = {"PG_SECRET": PG_SECRET, "MY_SECRET": MY_SECRET, "SB_KEY": SB_KEY}
REPO = Path(__file__).resolve().parents[2]


def _connections(pg_db: str = "test", my_db: str = "test", allow: str = "") -> str:
    extra = f", allow_override: [{allow}]" if allow else ""
    return f"""version: 1
connections:
  postgres:
    wh: {{host: 127.0.0.1, port: 5432, database: {pg_db}, user: postgres, password: "${{PG_SECRET}}",
          sslmode: disable{extra}}}
  mysql:
    shop: {{host: 127.0.0.1, port: 3306, database: {my_db}, user: root, password: "${{MY_SECRET:-}}",
           ssl: {{mode: disabled}}{extra}}}
  supabase:
    main: {{url: "http://127.0.0.1:9", service_role_key: "${{SB_KEY}}"}}
"""


def _pipeline(component: str, ref: str | None, **config: Any) -> str:
    lines = [f"      connection: \"{ref}\""] if ref else []
    lines += [f"      {k}: {json.dumps(v)}" for k, v in config.items()]
    body = "\n".join(lines)
    return f"""oml_version: "0.1.0"
name: overrides
steps:
  - id: extract
    component: {component}
    config:
{body}
  - id: write
    component: filesystem.csv_writer
    needs: [extract]
    config:
      path: out.csv
"""


def _compile(tmp_path: Path, pipeline: str, connections: str) -> list[tuple[str, int, int]]:
    (tmp_path / "osiris_connections.yaml").write_text(connections)
    options = CompileOptions(connections=tmp_path / "osiris_connections.yaml",
                             connections_label="osiris_connections.yaml", env=ENV, cwd=tmp_path)
    result = compile_text(pipeline, "p.yaml", options)
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics if d.severity == "error"]


OVERRIDES = [
    ("postgres.extractor", "@postgres.wh", "host", "203.0.113.9"),
    ("postgres.extractor", "@postgres.wh", "port", 5433),
    ("postgres.extractor", "@postgres.wh", "user", "admin"),
    ("postgres.writer", "@postgres.wh", "database", "other"),
    ("mysql.extractor", "@mysql.shop", "host", "db.example.com"),
    ("mysql.writer", "@mysql.shop", "port", 3307),
    ("mysql.extractor", "@mysql.shop", "user", "admin"),
    ("supabase.extractor", "@supabase.main", "url", "https://evil.example"),
    ("supabase.writer", "@supabase.main", "project_id", "evilproject"),
    ("mysql.extractor", None, "host", "db.example.com"),  # the family's default alias
]


@pytest.mark.parametrize(("component", "ref", "key", "value"), OVERRIDES)
def test_compile_refuses_an_override_the_alias_does_not_allow(tmp_path: Path, component: str, ref: str | None,
                                                               key: str, value: Any) -> None:
    connections = _connections().replace("shop: {", "shop: {default: true, ")
    config: dict[str, Any] = {key: value, "table": "t"}
    errors = _compile(tmp_path, _pipeline(component, ref, **config), connections)
    line = 8 if ref else 7  # the key's own line, column 7
    assert ("OML077", line, 7) in errors, errors


def test_allow_override_grants_exactly_the_fields_it_lists(tmp_path: Path) -> None:
    allowed = _compile(tmp_path, _pipeline("postgres.extractor", "@postgres.wh", database="x", table="t"),
                       _connections(allow="database"))
    assert allowed == []
    still = _compile(tmp_path, _pipeline("postgres.extractor", "@postgres.wh", database="x", host="h", table="t"),
                     _connections(allow="database"))
    assert [code for code, _, _ in still] == ["OML077"]


@pytest.mark.parametrize(("allow", "message"), [
    ("password", "secret"), ("sslmode", "cannot set"), ("hots", "did you mean 'host'"),
])
def test_the_connections_file_cannot_grant_secrets_or_unknown_fields(tmp_path: Path, allow: str, message: str) -> None:
    (tmp_path / "osiris_connections.yaml").write_text(_connections(allow=allow).replace(
        f", allow_override: [{allow}]}}\n  mysql", "}\n  mysql"))
    options = CompileOptions(connections=tmp_path / "osiris_connections.yaml", env=ENV, cwd=tmp_path)
    result = compile_text(_pipeline("postgres.extractor", "@postgres.wh", table="t"), "p.yaml", options)
    found = [d for d in result.diagnostics if d.code == "OML074"]
    assert found and message in (found[0].message + " " + (found[0].help or "")), found


# --- run time: a manifest edited to carry the override --------------------------------------------


def _tamper(build: Path, step: str, **extra: Any) -> None:
    """Add `extra` to a step's cfg and recompute cfg_fp and manifest_fp, as an attacker would."""
    yaml = YAML(typ="safe")
    cfg_path = build / "cfg.json"
    cfgs = json.loads(cfg_path.read_text())
    cfg = cfgs[step] = {**cfgs[step], **extra}
    cfg_path.write_text(json.dumps(cfgs, indent=2))
    manifest = yaml.load((build / "manifest.yaml").read_text())
    for entry in manifest["steps"]:
        if entry["id"] == step:
            entry["cfg_fp"] = fingerprint(cfg)
    with (build / "manifest.yaml").open("w") as handle:
        YAML(typ="safe", pure=True).dump(manifest, handle)
    meta = json.loads((build / "meta.json").read_text())
    meta["fingerprints"]["manifest_fp"] = fingerprint(manifest)
    (build / "meta.json").write_text(json.dumps(meta, indent=2))


def _cli(module: str, args: list[str], cwd: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO), **overrides}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _events(project: Path) -> list[dict[str, Any]]:
    sessions = sorted((project / ".osiris" / "sessions").iterdir(), key=lambda p: p.stat().st_mtime)
    return [json.loads(line) for line in (sessions[-1] / "events.jsonl").read_text().splitlines()]


@contextmanager
def _target(family: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """A hostile server for `family`, and the cfg keys that point a step at it."""
    if family == "postgres":
        with fake_postgres() as pg:
            yield {"host": pg.host, "port": pg.port}, pg
    elif family == "mysql":
        with fake_mysql(writer_script(lambda q: None)) as my:
            yield {"host": my.host, "port": my.port}, my
    else:
        with recording_server() as http:
            yield {"url": http.url}, http


def _captured(family: str, server: Any) -> bool:
    if family == "supabase":
        return server.saw(SB_KEY) or bool(server.requests)
    return bool(server.connections)


@pytest.mark.parametrize(("family", "component", "ref", "config"), [
    ("postgres", "postgres.extractor", "@postgres.wh", {"query": "SELECT 1 AS x"}),
    ("mysql", "mysql.extractor", "@mysql.shop", {"query": "SELECT 1 AS x"}),
    ("supabase", "supabase.extractor", "@supabase.main", {"table": "orders"}),
])
def test_a_tampered_manifest_never_sends_the_secret_elsewhere(tmp_path: Path, family: str, component: str,
                                                              ref: str, config: dict[str, Any]) -> None:
    (tmp_path / "p.yaml").write_text(_pipeline(component, ref, **config))
    (tmp_path / "osiris_connections.yaml").write_text(_connections())
    compiled = _cli("osiris.cli.omlc", ["compile", "p.yaml", "--out", "build"], tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    with _target(family) as (keys, server):
        _tamper(tmp_path / "build", "extract", **keys)
        verified = _cli("osiris.cli.osiris", ["run", "--manifest", "build", "--quiet"], tmp_path)
        assert verified.returncode == 1 and "error[OML096]" in verified.stderr  # refused before it runs
        # The runtime's own refusal, with manifest verification's override check switched off:
        run = _cli("tests.security.overrides_unverified_cli", ["run", "--manifest", "build", "--quiet"], tmp_path)
        assert not _captured(family, server)  # no connection at all, so no secret
    assert run.returncode != 0
    errors = [e for e in _events(tmp_path) if e["event"] == "step_error"]
    assert errors and errors[0]["step_id"] == "extract"
    assert "does not let a step override" in errors[0]["message"], errors[0]
    for secret in ENV.values():
        assert secret not in run.stdout + run.stderr


def _resolved(tmp_path: Path, ref: str, allow: str = "") -> Any:
    (tmp_path / "osiris_connections.yaml").write_text(_connections(allow=allow))
    file = load_connections_file(tmp_path / "osiris_connections.yaml", tmp_path)
    return RuntimeConnections(file, SecretMasker(), ENV).resolve(ref)


@pytest.mark.parametrize("family", ["postgres", "mysql", "supabase"])
def test_drivers_merge_only_allowed_overrides(tmp_path: Path, family: str) -> None:
    """Defence in depth: with the runtime's own check bypassed, each driver still refuses."""
    from osiris.drivers.mysql.connect import conn_params, connect
    from osiris.drivers.postgres import params_from
    from osiris.drivers.supabase.rest import RestSession
    from osiris.drivers.supabase.settings import rest_settings

    ref = {"postgres": "@postgres.wh", "mysql": "@mysql.shop", "supabase": "@supabase.main"}[family]
    connection = _resolved(tmp_path, ref)
    with _target(family) as (keys, server):
        with pytest.raises(DriverError, match="does not let a step override"):
            if family == "postgres":
                from osiris.drivers.postgres.connect import open_connection

                open_connection(params_from(connection, keys), autocommit=True)
            elif family == "mysql":
                connect(conn_params(connection, keys))
            else:
                RestSession(rest_settings(connection, keys)).openapi()
        assert not _captured(family, server)


@pytest.mark.postgres
def test_an_allowed_database_override_works_and_cannot_smuggle_a_host(tmp_path: Path, postgres_db: dict) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    from osiris.drivers.postgres import params_from
    from osiris.drivers.postgres.connect import open_connection

    connection = _resolved(tmp_path, "@postgres.wh", allow="database")
    conn = open_connection(params_from(connection, {"database": postgres_db["database"]}), autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0] == postgres_db["database"]
    conn.close()
    with fake_postgres() as pg:  # libpq does not expand a dbname given in a conninfo string
        for smuggled in (f"host=127.0.0.1 port={pg.port}", f"postgresql://127.0.0.1:{pg.port}/x"):
            with pytest.raises(DriverError):
                open_connection(params_from(connection, {"database": smuggled}), autocommit=True)
        assert pg.connections == []
    assert adbc  # the real ADBC driver did the connecting above


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("family", ["postgres", "mysql"])
def test_a_pipeline_with_an_allowed_database_override_runs(tmp_path: Path, postgres_db: dict, mysql_db: dict,
                                                           family: str) -> None:
    import psycopg
    import pymysql

    if family == "postgres":
        with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS granted (v int)")
            conn.execute("INSERT INTO granted VALUES (41), (42)")
        component, ref, database = "postgres.extractor", "@postgres.wh", postgres_db["database"]
    else:
        admin = pymysql.connect(**mysql_db, autocommit=True)
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS granted (v int)")
            cur.execute("INSERT INTO granted VALUES (41), (42)")
        admin.close()
        component, ref, database = "mysql.extractor", "@mysql.shop", mysql_db["database"]
    (tmp_path / "p.yaml").write_text(_pipeline(component, ref, database=database, table="granted"))
    (tmp_path / "osiris_connections.yaml").write_text(_connections(allow="database"))
    run = _cli("osiris.cli.osiris", ["run", "p.yaml", "--quiet"], tmp_path, MY_SECRET="")  # local root: no password
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.csv").read_text().split() == ["v", "41", "42"]


def test_the_sandbox_worker_gets_the_same_policy(tmp_path: Path) -> None:
    """E2B: the host resolves aliases into the worker's payload; the grant travels with them."""
    from types import SimpleNamespace

    from osiris.runtime.e2b.host.payload import build_payload
    from osiris.runtime.e2b.sandbox.connections import PayloadConnections

    (tmp_path / "osiris_connections.yaml").write_text(_connections(allow="database"))
    file = load_connections_file(tmp_path / "osiris_connections.yaml", tmp_path)
    host = RuntimeConnections(file, SecretMasker(), ENV)
    manifest = SimpleNamespace(connections=["@postgres.wh"], steps=[])
    payload = build_payload(manifest, host, str)  # type: ignore[arg-type]
    worker = PayloadConnections(json.loads(json.dumps(payload)), SecretMasker()).resolve("@postgres.wh")
    keys = ("host", "port", "database", "user")
    assert worker.with_overrides({"database": "other"}, keys)["database"] == "other"
    with pytest.raises(DriverError, match="does not let a step override"):
        worker.check_overrides({"host": "203.0.113.9"})
