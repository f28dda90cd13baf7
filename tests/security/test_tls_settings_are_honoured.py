"""TLS settings in the connections file reach the client libraries, and a mode that requires
TLS is never silently downgraded.

PostgreSQL: `sslmode` (alias, else the dsn's, else prefer) and `sslrootcert`; MySQL:
`ssl: {mode, ca}` on pymysql and connectorx alike. Fake servers with throw-away
certificates (tests/support/tls.py) show what the client really negotiated; the local
servers, which have no TLS, show that a required mode fails with a clear message.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osiris.drivers.mysql.connect import conn_params, connect, cx_url
from osiris.drivers.postgres import params_from
from osiris.drivers.postgres.connect import open_connection
from osiris.runtime.driver import DriverError, ResolvedConnection
from tests.support.fake_mysql import fake_mysql, writer_script
from tests.support.fake_pg import fake_postgres
from tests.support.tls import Pki, make_pki

SECRET = "tls-Secret-Osiris-3141"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _pg(host: str, port: int, **fields: Any) -> ResolvedConnection:
    base = {"host": host, "port": port, "database": "test", "user": "postgres", "password": SECRET}
    return ResolvedConnection("postgres", "wh", {**base, **fields}, frozenset({"password", "dsn"}))


def _my(host: str, port: int, **ssl: Any) -> ResolvedConnection:
    fields = {"host": host, "port": port, "database": "test", "user": "root", "password": SECRET, "ssl": ssl}
    return ResolvedConnection("mysql", "shop", fields, frozenset({"password"}))


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_pg_sslmode_require_against_a_server_without_tls_fails_clearly() -> None:
    connection = _pg("127.0.0.1", 5432, password="", sslmode="require")
    with pytest.raises(DriverError) as failure:
        open_connection(params_from(connection), autocommit=True)
    assert "SSL" in str(failure.value) and "Traceback" not in str(failure.value)


def test_pg_verify_full_with_sslrootcert_speaks_tls_and_checks_the_certificate(pki: Pki) -> None:
    with fake_postgres(tls=pki.server_context()) as pg:
        good = _pg(pg.host, pg.port, sslmode="verify-full", sslrootcert=str(pki.ca))
        with pytest.raises(DriverError, match="password authentication failed"):
            open_connection(params_from(good), autocommit=True)  # TLS up; the fake then refuses
        assert pg.connections[-1].tls and pg.connections[-1].password == SECRET  # only over TLS
        wrong = _pg(pg.host, pg.port, sslmode="verify-full", sslrootcert=str(pki.other_ca))
        with pytest.raises(DriverError):
            open_connection(params_from(wrong), autocommit=True)
        assert pg.connections[-1].password is None  # certificate refused: no password sent


@pytest.mark.parametrize(("fields", "tls"), [
    ({"sslmode": "disable"}, False),
    ({}, True),  # prefer: TLS when offered
    ({"dsn": "postgresql://postgres@HOST:PORT/test?sslmode=disable"}, False),
    ({"dsn": "postgresql://postgres@HOST:PORT/test?sslmode=disable", "sslmode": "require"}, True),
])
def test_pg_effective_sslmode_is_the_alias_then_the_dsn_then_prefer(pki: Pki, fields: dict, tls: bool) -> None:
    with fake_postgres(tls=pki.server_context()) as pg:
        given = {k: (v.replace("HOST", pg.host).replace("PORT", str(pg.port)) if k == "dsn" else v)
                 for k, v in fields.items()}
        with pytest.raises(DriverError):
            open_connection(params_from(_pg(pg.host, pg.port, **given)), autocommit=True)
        assert pg.connections[0].tls is tls  # (prefer retries in clear after a failure over TLS)


def test_pg_environment_does_not_choose_the_sslmode(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """PGSSLMODE=disable in the environment cannot downgrade an alias: sslmode is always explicit."""
    monkeypatch.setenv("PGSSLMODE", "disable")
    with fake_postgres(tls=pki.server_context()) as pg:
        with pytest.raises(DriverError):
            open_connection(params_from(_pg(pg.host, pg.port)), autocommit=True)
        assert pg.connections[0].tls


# --- MySQL ------------------------------------------------------------------------------------


@pytest.mark.mysql
@pytest.mark.parametrize("mode", ["required", "verify_ca", "verify_identity"])
def test_mysql_tls_modes_against_a_server_without_tls_fail_clearly(mode: str) -> None:
    connection = _my("127.0.0.1", 3306, mode=mode)
    with pytest.raises(DriverError) as failure:
        connect(conn_params(ResolvedConnection("mysql", "shop", {**connection.fields, "password": ""})))
    assert "SSL is required" in str(failure.value)


def test_mysql_verify_identity_with_ca_speaks_tls_and_checks_the_certificate(pki: Pki) -> None:
    with fake_mysql(writer_script(lambda q: None), tls=pki.server_context()) as my:
        conn = connect(conn_params(_my(my.host, my.port, mode="verify_identity", ca=str(pki.ca))))
        conn.close()
        assert my.connections[-1].tls and my.connections[-1].password == SECRET
        with pytest.raises(DriverError):
            connect(conn_params(_my(my.host, my.port, mode="verify_identity", ca=str(pki.other_ca))))
        assert my.connections[-1].password is None


@pytest.mark.parametrize(("mode", "tls"), [("disabled", False), ("preferred", True), ("required", True)])
def test_mysql_modes_decide_tls_against_a_server_offering_it(pki: Pki, mode: str, tls: bool) -> None:
    with fake_mysql(writer_script(lambda q: None), tls=pki.server_context()) as my:
        connect(conn_params(_my(my.host, my.port, mode=mode))).close()
        assert my.connections[-1].tls is tls


def test_mysql_preferred_verifies_nothing_and_loads_no_ca_store(pki: Pki) -> None:
    """`preferred` checks no certificate (as pymysql's and the mysql client's preferred), so its
    context skips loading the system's CA store (~20 ms per connection); the modes that verify
    keep pymysql's own context, with the CA loaded."""
    with fake_mysql(writer_script(lambda q: None), tls=pki.server_context()) as my:
        preferred = connect(conn_params(_my(my.host, my.port, mode="preferred")))
        verifying = connect(conn_params(_my(my.host, my.port, mode="verify_ca", ca=str(pki.ca))))
    assert preferred.ctx.verify_mode == ssl.CERT_NONE and not preferred.ctx.check_hostname
    assert preferred.ctx.cert_store_stats()["x509_ca"] == 0
    assert verifying.ctx.verify_mode == ssl.CERT_REQUIRED and verifying.ctx.cert_store_stats()["x509_ca"] >= 1
    preferred.close()
    verifying.close()


def test_mysql_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="does not exist"):
        connect(conn_params(_my("127.0.0.1", 1, mode="verify_ca", ca=str(tmp_path / "absent.pem"))))


def test_connectorx_gets_the_same_tls_setting(pki: Pki) -> None:
    """connectorx's PREFERRED refuses a server without TLS, so `preferred` becomes what pymysql
    negotiated with that server; the verifying modes carry the CA file."""
    with fake_mysql(writer_script(lambda q: None), tls=pki.server_context()) as offering:
        assert "ssl-mode=REQUIRED" in cx_url(conn_params(_my(offering.host, offering.port, mode="preferred")))
    with fake_mysql(writer_script(lambda q: None)) as plain:
        assert "ssl-mode=DISABLED" in cx_url(conn_params(_my(plain.host, plain.port, mode="preferred")))
    url = cx_url(conn_params(_my("127.0.0.1", 3306, mode="verify_identity", ca="/etc/ssl/ca file.pem")))
    assert "ssl-mode=VERIFY_IDENTITY" in url and "ssl-ca=%2Fetc%2Fssl%2Fca+file.pem" in url
    assert "ssl-mode=VERIFY_CA" in cx_url(conn_params(_my("127.0.0.1", 3306, mode="verify_ca")))
    assert "ssl-mode=DISABLED" in cx_url(conn_params(_my("127.0.0.1", 3306, mode="disabled")))


@pytest.mark.mysql
def test_a_run_with_tls_required_fails_with_a_message_not_a_traceback(tmp_path: Path, mysql_db: dict) -> None:
    (tmp_path / "osiris_connections.yaml").write_text(f"""version: 1
connections:
  mysql:
    shop: {{host: 127.0.0.1, database: {mysql_db["database"]}, user: root, password: "", ssl: {{mode: required}}}}
""")
    (tmp_path / "p.yaml").write_text("""oml_version: "0.1.0"
name: tls
steps:
  - id: extract
    component: mysql.extractor
    config: {connection: "@mysql.shop", query: SELECT 1 AS x}
  - id: write
    component: filesystem.csv_writer
    needs: [extract]
    config: {path: out.csv}
""")
    run = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "run", "p.yaml", "--quiet"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "SSL is required but the server doesn't support it" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
