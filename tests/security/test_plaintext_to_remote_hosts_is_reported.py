"""A run that talks to a host other than this machine unencrypted, or possibly unencrypted,
says so once: one `connection_unencrypted` event and one osiris.log line per run and alias.

"Possibly": MySQL `ssl.mode` preferred (the default) or disabled, PostgreSQL `sslmode`
prefer (the default), allow or disable, an `http://` Supabase URL. Loopback addresses,
`localhost` and Unix sockets are this machine. A name is never resolved to decide: the
machine's own host name (which resolves to 127.0.0.1 here) counts as remote, which gives
the run-level test a non-loopback name for a fake server on 127.0.0.1; without one, the
machine's non-loopback interface address is used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osiris.drivers.common.transport import is_local
from osiris.drivers.mysql.connect import conn_params
from osiris.drivers.postgres import params_from
from osiris.drivers.supabase.settings import rest_settings
from osiris.runtime.driver import ResolvedConnection
from tests.support.fake_mysql import fake_mysql, writer_script
from tests.support.hosts import remote_name
from tests.support.tls import make_pki

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("host", "local"), [
    ("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("/var/run/postgresql", True), ("", True),
    ("db.internal", False), ("10.0.0.5", False), ("192.0.2.2", False), ("localhost.example.com", False),
    ("127.0.0.1.nip.io", False), ("fd00::2", False),
])
def test_what_counts_as_this_machine(host: str, local: bool) -> None:
    assert is_local(host) is local


def _recording(family: str, fields: dict[str, Any]) -> tuple[ResolvedConnection, list[tuple[str, str, str]]]:
    seen: list[tuple[str, str, str]] = []
    secret = frozenset({"password", "dsn", "service_role_key"})
    connection = ResolvedConnection(family, "a", fields, secret,
                                    on_unencrypted=lambda ref, host, why: seen.append((ref, host, why)))
    return connection, seen


@pytest.mark.parametrize(("family", "fields", "warned"), [
    ("mysql", {"host": "db.internal", "user": "u"}, True),  # preferred by default
    ("mysql", {"host": "db.internal", "user": "u", "ssl": {"mode": "disabled"}}, True),
    ("mysql", {"host": "db.internal", "user": "u", "ssl": {"mode": "required"}}, False),
    ("mysql", {"host": "db.internal", "user": "u", "ssl": {"mode": "verify_identity"}}, False),
    ("mysql", {"host": "127.0.0.1", "user": "u", "ssl": {"mode": "disabled"}}, False),
    ("postgres", {"host": "db.internal"}, True),  # prefer by default
    ("postgres", {"host": "db.internal", "sslmode": "allow"}, True),
    ("postgres", {"host": "db.internal", "sslmode": "require"}, False),
    ("postgres", {"dsn": "postgresql://u@db.internal/x?sslmode=verify-full"}, False),
    ("postgres", {"dsn": "postgresql://u@db.internal/x"}, True),
    ("postgres", {"dsn": "postgresql://u@localhost,db.internal/x?sslmode=disable"}, True),
    ("postgres", {"host": "/var/run/postgresql", "sslmode": "disable"}, False),
    ("supabase", {"url": "http://api.example.com", "service_role_key": "k"}, True),
    ("supabase", {"url": "https://api.example.com", "service_role_key": "k"}, False),
    ("supabase", {"url": "http://127.0.0.1:54321", "service_role_key": "k"}, False),
])
def test_each_family_reports_what_may_travel_in_clear(family: str, fields: dict, warned: bool) -> None:
    connection, seen = _recording(family, fields)
    {"mysql": conn_params, "postgres": params_from, "supabase": rest_settings}[family](connection)
    assert bool(seen) is warned, seen
    if warned:
        assert "TLS" in seen[0][2]


def _run(project: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    run = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "run", "p.yaml", "--quiet"], cwd=project,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    sessions = sorted((project / ".osiris" / "sessions").iterdir(), key=lambda p: p.stat().st_mtime)
    return run, sessions[-1]


def _pipeline(steps: list[tuple[str, str]]) -> str:
    body = ""
    for index, (step, ref) in enumerate(steps):
        body += f"""  - id: {step}
    component: mysql.extractor
    config: {{connection: "{ref}", query: "SELECT 1 AS x", fetch_mode: stream}}
  - id: write{index}
    component: filesystem.csv_writer
    needs: [{step}]
    config: {{path: out{index}.csv}}
"""
    return f'oml_version: "0.1.0"\nname: plain\nsteps:\n{body}'


def test_a_run_warns_once_per_alias_talking_to_a_remote_host_without_tls(tmp_path: Path) -> None:
    name, address = remote_name()
    with fake_mysql(writer_script(lambda q: None), host=address, auth="none") as my:  # (no cleartext ask: refused)
        (tmp_path / "osiris_connections.yaml").write_text(f"""version: 1
connections:
  mysql:
    one: {{host: "{name}", port: {my.port}, database: d, user: u, password: pw}}
    two: {{host: "{name}", port: {my.port}, database: d, user: u, password: pw, ssl: {{mode: disabled}}}}
""")
        (tmp_path / "p.yaml").write_text(_pipeline([("a", "@mysql.one"), ("b", "@mysql.one"), ("c", "@mysql.one"),
                                                    ("d", "@mysql.two")]))
        run, session = _run(tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(my.connections) >= 4  # every step really connected to the remote name
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    notices = [e for e in events if e["event"] == "connection_unencrypted"]
    assert sorted(e["connection"] for e in notices) == ["@mysql.one", "@mysql.two"]
    assert all(e["host"] == name and "TLS" in e["reason"] for e in notices)
    log = (session / "osiris.log").read_text()
    assert log.count("@mysql.one talks to") == 1 and log.count("@mysql.two talks to") == 1


def test_no_warning_when_tls_is_required(tmp_path: Path) -> None:
    name, address = remote_name()
    pki = make_pki(tmp_path / "pki", hosts=(name, address))
    with fake_mysql(writer_script(lambda q: None), host=address, tls=pki.server_context()) as my:
        (tmp_path / "osiris_connections.yaml").write_text(f"""version: 1
connections:
  mysql:
    one: {{host: "{name}", port: {my.port}, database: d, user: u, password: pw,
           ssl: {{mode: verify_identity, ca: "{pki.ca}"}}}}
""")
        (tmp_path / "p.yaml").write_text(_pipeline([("a", "@mysql.one")]))
        run, session = _run(tmp_path)
    assert run.returncode == 0, run.stderr
    assert my.connections and all(c.tls for c in my.connections)
    assert "connection_unencrypted" not in (session / "events.jsonl").read_text()


def test_doctor_says_it_too(tmp_path: Path) -> None:
    name, address = remote_name()
    with fake_mysql(writer_script(lambda q: None), host=address, auth="none") as my:  # (no cleartext ask: refused)
        (tmp_path / "osiris_connections.yaml").write_text(f"""version: 1
connections:
  mysql:
    one: {{host: "{name}", port: {my.port}, database: d, user: u, password: pw}}
""")
        doctor = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "connections", "doctor"], cwd=tmp_path,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                                timeout=60)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"warning: talks to {name} possibly without TLS" in doctor.stdout
