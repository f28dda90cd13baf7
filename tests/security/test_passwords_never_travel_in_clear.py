"""A password goes only to the host written next to it, and never in a form a stranger can read.

Attacks, against fake servers on 127.0.0.1 reached through a name that counts as another
machine (tests/support/hosts.py), since on a link without TLS anyone on the path can play the
server (strip the TLS offer, answer in its place):

- PostgreSQL, default `sslmode: prefer`: the server refuses TLS and asks for the password in
  clear text (AuthenticationCleartextPassword); libpq sent it. Now `require_auth=!password` is
  pinned whenever TLS is not guaranteed and a host is remote: SCRAM and md5 still work.
- MySQL, default `ssl.mode: preferred` or `disabled`: the server switches to
  `mysql_clear_password`, to `dialog` ("Password: "), or to `caching_sha2_password` /
  `sha256_password` full authentication, which RSA-encrypts the password with a key the server
  sends; pymysql answered each. connectorx's MySQL client answers the last one too and cannot be
  told not to, so it is not used on such links.
- The environment re-points a credential: PGHOSTADDR (or a service file's `hostaddr` through
  PGSERVICE) made libpq connect to an address written nowhere in the connections file while
  `host` still named the alias's server. `hostaddr` is now always explicit.

Controls show each attack is real for the plain client, and that loopback hosts, TLS links and
the operator's explicit `require_auth` in a dsn behave as before.
"""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from osiris.drivers.mysql.auth import PasswordRefused
from osiris.drivers.mysql.connect import conn_params, connect, cx_refused, cx_url
from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.postgres import params_from
from osiris.drivers.postgres.connect import open_connection
from osiris.runtime.driver import DriverError, ResolvedConnection, TransientError
from osiris.runtime.testing import RecordingContext
from tests.support.fake_mysql import AUTH_METHODS, Rows, fake_mysql, writer_script
from tests.support.fake_pg import fake_postgres
from tests.support.hosts import remote_name
from tests.support.tls import Pki, make_pki

SECRET = "never-in-clear-PW-6130"
REVEALING = [m for m in AUTH_METHODS if m != "none"]


@pytest.fixture(scope="module")
def remote() -> tuple[str, str]:
    return remote_name()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory, remote: tuple[str, str]) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), hosts=(remote[0], remote[1], "127.0.0.1"))


def _pg(**fields: object) -> ResolvedConnection:
    return ResolvedConnection("postgres", "wh", {"user": "loader", "password": SECRET, "database": "d", **fields},
                              frozenset({"password", "dsn"}))


def _my(host: str, port: int, **fields: object) -> ResolvedConnection:
    return ResolvedConnection("mysql", "shop", {"host": host, "port": port, "user": "loader", "password": SECRET,
                                                "database": "d", **fields}, frozenset({"password"}))


# -- PostgreSQL ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sslmode", [None, "prefer", "allow", "disable"])
def test_pg_never_answers_a_cleartext_request_on_a_link_that_may_be_plaintext(
        sslmode: str | None, remote: tuple[str, str]) -> None:
    name, address = remote
    with fake_postgres(host=address) as pg:
        fields = {"host": name, "port": pg.port} | ({"sslmode": sslmode} if sslmode else {})
        with pytest.raises(DriverError) as failure:
            open_connection(params_from(_pg(**fields)), autocommit=True)
    assert pg.connections and pg.passwords == []  # the server asked; nothing came
    assert not isinstance(failure.value, TransientError)  # not retried
    assert "in clear text" in str(failure.value) and "sslmode: verify-full" in (failure.value.hint or "")


@pytest.mark.parametrize("sslmode", [None, "disable"])
def test_pg_the_native_reader_s_own_libpq_never_answers_a_cleartext_request(
        sslmode: str | None, remote: tuple[str, str]) -> None:
    """The native COPY reader connects through libpq directly (drivers/postgres/libpq.py), not
    through ADBC: the same pinned `require_auth` must hold for it."""
    from osiris.drivers.postgres.native_read import connect as native_connect

    name, address = remote
    with fake_postgres(host=address) as pg:
        fields = {"host": name, "port": pg.port} | ({"sslmode": sslmode} if sslmode else {})
        with pytest.raises(DriverError) as failure:
            native_connect(params_from(_pg(**fields)))
    assert pg.connections and pg.passwords == []
    assert not isinstance(failure.value, TransientError)
    assert "in clear text" in str(failure.value)


def test_pg_the_attack_is_real_for_plain_libpq(remote: tuple[str, str]) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    name, address = remote
    with fake_postgres(host=address) as pg, pytest.raises(Exception):  # noqa: B017,PT011
        adbc.connect(f"host={name} port={pg.port} user=u password={SECRET} dbname=d sslmode=prefer")
    assert pg.passwords == [SECRET]


def test_pg_cleartext_still_goes_over_tls_to_this_machine_and_where_the_dsn_allows_it(
        remote: tuple[str, str], pki: Pki) -> None:
    name, address = remote
    with fake_postgres(host="127.0.0.1") as pg, pytest.raises(DriverError):  # this machine: as before
        open_connection(params_from(_pg(host="127.0.0.1", port=pg.port)), autocommit=True)
    assert pg.passwords == [SECRET]
    with fake_postgres(host=address, tls=pki.server_context()) as pg, pytest.raises(DriverError):
        open_connection(params_from(_pg(host=name, port=pg.port, sslmode="require")), autocommit=True)
    assert pg.passwords == [SECRET] and pg.connections[0].tls  # TLS guaranteed
    with fake_postgres(host=address) as pg, pytest.raises(DriverError):
        dsn = f"postgresql://loader:{SECRET}@{name}:{pg.port}/d?require_auth=password"
        open_connection(params_from(_pg(dsn=dsn)), autocommit=True)
    assert pg.passwords == [SECRET]  # the operator wrote require_auth in the dsn: their choice


@pytest.mark.postgres
def test_pg_scram_and_trust_servers_still_connect_over_a_remote_name(postgres_db: dict,
                                                                     remote: tuple[str, str]) -> None:
    """The pinned `require_auth=!password` refuses only a cleartext request (the local server trusts)."""
    params = params_from(_pg(host=remote[0], port=postgres_db.get("port", 5432), user=postgres_db["user"],
                             database=postgres_db["database"], password=""))
    assert "require_auth=!password" in params.conninfo
    conn = open_connection(params, autocommit=True)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]
    cur.close()
    conn.close()


def _service_file(tmp_path: Path, port: int) -> dict[str, str]:
    path = tmp_path / "pg_service.conf"
    path.write_text(f"[elsewhere]\nhostaddr=127.0.0.1\nport={port}\n")
    return {"PGSERVICE": "elsewhere", "PGSERVICEFILE": str(path)}


@pytest.mark.parametrize("variable", ["PGHOSTADDR", "PGSERVICE"])
def test_pg_the_environment_cannot_send_the_password_to_another_address(
        variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with fake_postgres() as pg:
        env = {"PGHOSTADDR": "127.0.0.1"} if variable == "PGHOSTADDR" else _service_file(tmp_path, pg.port)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(Exception):  # noqa: B017,PT011 - control: plain libpq follows the environment
            adbc.connect(f"host=db.invalid port={pg.port} user=u password={SECRET} dbname=d")
        assert pg.passwords == [SECRET]
        for fields in ({"host": "db.invalid", "port": pg.port}, {"dsn": f"postgresql://u:{SECRET}@db.invalid:{pg.port}/d"}):
            with pytest.raises(DriverError, match="db.invalid"):
                open_connection(params_from(_pg(**fields)), autocommit=True)
        assert pg.passwords == [SECRET]  # Osiris went to db.invalid (which does not resolve), nowhere else
    assert "hostaddr=''" in params_from(_pg(host="db.invalid")).conninfo


def test_pg_a_hostaddr_the_dsn_writes_is_kept() -> None:
    params = params_from(_pg(dsn="postgresql://u@db.internal/d?hostaddr=10.1.2.3", sslmode="verify-full"))
    assert "hostaddr=10.1.2.3" in params.conninfo


# -- MySQL (pymysql) -------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", REVEALING)
@pytest.mark.parametrize("mode", ["preferred", "disabled"])
def test_mysql_never_gives_a_remote_server_its_password_without_tls(auth: str, mode: str,
                                                                     remote: tuple[str, str]) -> None:
    name, address = remote
    with fake_mysql(writer_script(lambda q: None), host=address, auth=auth) as my:
        with pytest.raises(PasswordRefused) as failure:
            connect(conn_params(_my(name, my.port, ssl={"mode": mode})))
    assert my.connections and [c.password for c in my.connections] == [None]
    assert "without TLS" in str(failure.value) and SECRET not in str(failure.value)
    assert "verify_identity" in (failure.value.hint or "")


@pytest.mark.parametrize("auth", REVEALING)
def test_mysql_the_attack_is_real_for_plain_pymysql(auth: str, remote: tuple[str, str]) -> None:
    name, address = remote
    with fake_mysql(writer_script(lambda q: None), host=address, auth=auth) as my:
        pymysql.connect(host=name, port=my.port, user="u", password=SECRET, ssl_disabled=True).close()
    assert [c.password for c in my.connections] == [SECRET]


@pytest.mark.parametrize("auth", REVEALING)
def test_mysql_tls_links_and_this_machine_authenticate_as_before(auth: str, remote: tuple[str, str],
                                                                 pki: Pki) -> None:
    name, address = remote
    with fake_mysql(writer_script(lambda q: None), host=address, auth=auth, tls=pki.server_context()) as my:
        connect(conn_params(_my(name, my.port, ssl={"mode": "verify_identity", "ca": str(pki.ca)}))).close()
    assert [(c.tls, c.password) for c in my.connections] == [(True, SECRET)]
    with fake_mysql(writer_script(lambda q: None), auth=auth) as my:
        connect(conn_params(_my("127.0.0.1", my.port))).close()
    assert [c.password for c in my.connections] == [SECRET]


@pytest.mark.mysql
def test_mysql_scrambled_methods_still_work_over_a_remote_name(mysql_db: dict, remote: tuple[str, str]) -> None:
    """MariaDB's mysql_native_password reveals no password: a plaintext remote link still logs in."""
    fields = {"host": remote[0], "port": mysql_db.get("port", 3306), "user": mysql_db["user"],
              "password": mysql_db.get("password") or "", "database": mysql_db["database"]}
    conn = connect(conn_params(ResolvedConnection("mysql", "real", fields, frozenset({"password"}))))
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    conn.close()


# -- MySQL (connectorx) ----------------------------------------------------------------------------

def _cx_setup(query: str) -> Rows:
    if "max_allowed_packet" in query:
        return Rows(("@@max_allowed_packet",), (("4194304",),))
    if "@@socket" in query:
        return Rows(("@@socket",), (("",),))
    return Rows(("x",), (("1",),))


def test_connectorx_gives_the_password_away_which_is_why_it_is_not_used_there(remote: tuple[str, str]) -> None:
    """Control: connectorx's MySQL client answers a full caching_sha2 authentication with the
    password RSA-encrypted under the server's key, on a link without TLS."""
    import connectorx as cx

    name, address = remote
    with fake_mysql(_cx_setup, host=address, auth="caching_sha2_password") as my:
        with pytest.raises(BaseException):  # noqa: B017,PT011 - the fake's answers end the read
            cx.read_sql(f"mysql://u:{SECRET}@{name}:{my.port}/d?ssl-mode=DISABLED", "SELECT 1 AS x",
                        return_type="arrow")
    assert SECRET in [c.password for c in my.connections]


@pytest.mark.parametrize("mode", ["preferred", "disabled"])
def test_connectorx_is_not_used_on_a_link_without_tls_to_another_machine(mode: str, remote: tuple[str, str]) -> None:
    name, address = remote
    with fake_mysql(writer_script(lambda q: None), host=address, auth="none") as my:
        connection = _my(name, my.port, ssl={"mode": mode})
        params = conn_params(connection)
        assert cx_refused(params)
        with pytest.raises(DriverError, match="connectorx cannot read"):
            cx_url(params)
        ctx = RecordingContext(config={"query": "SELECT 1 AS x"}, connection=connection)
        MySQLExtractor().extract(ctx).read_all()
        paths = [fields for name_, fields in ctx.events if name_ == "mysql.extract.path"]
        assert [p["path"] for p in paths] == ["stream"] and "no TLS" in paths[0]["reason"]
        bulk = RecordingContext(config={"table": "t", "fetch_mode": "bulk"}, connection=connection)
        with pytest.raises(DriverError, match="fetch_mode: bulk"):
            MySQLExtractor().extract(bulk)
    assert not any("@@max_allowed_packet" in q for c in my.connections for q in c.queries)  # no connectorx client


def test_connectorx_is_used_over_tls_and_on_this_machine(remote: tuple[str, str], pki: Pki) -> None:
    name, address = remote
    with fake_mysql(writer_script(lambda q: None), host=address, auth="none", tls=pki.server_context()) as my:
        assert cx_refused(conn_params(_my(name, my.port))) is None  # preferred, and the server offered TLS
    assert cx_refused(conn_params(_my("127.0.0.1", 3306, ssl={"mode": "disabled"}))) is None
    assert cx_refused(conn_params(_my(name, 3306, ssl={"mode": "required"}))) is None


def test_connectorx_url_brackets_an_ipv6_host() -> None:
    url = cx_url(conn_params(_my("::1", 3306, ssl={"mode": "disabled"})))
    assert url.startswith(f"mysql://loader:{SECRET}@[::1]:3306/d?")


