"""The conninfo the PostgreSQL driver writes is read back by libpq exactly as meant.

drivers/postgres/connect.py writes libpq's key=value form itself (so a run whose connections
have no `dsn` does not import psycopg at start-up) and quotes identifiers itself; libpq's own
parser (psycopg's `conninfo_to_dict`, which calls PQconninfoParse) and psycopg's identifier
quoting are the references. A value libpq split differently would send a credential to another
host, or an identifier quoted differently would change the SQL.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from osiris.drivers.postgres import connect, params_from
from osiris.runtime.driver import DriverError, ResolvedConnection

KEYWORDS = ["host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "sslrootcert",
            "application_name", "connect_timeout", "require_auth", "options"]
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
NASTY = st.sampled_from(["", " ", "a b", "x'y", "\\", "\\'", "' host=evil", "p=q", "tab\there", "new\nline",
                         "'", "''", "\\\\'", "end\\"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYWORDS), st.one_of(TEXT, NASTY), max_size=len(KEYWORDS)))
def test_every_value_reads_back_as_written(options: dict[str, str]) -> None:
    assert conninfo_to_dict(connect._emit(options)) == options


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXT, NASTY))
def test_identifiers_are_quoted_as_psycopg_quotes_them(name: str) -> None:
    assert connect.quote_ident(name) == sql.Identifier(name).as_string(None)


def test_a_nul_is_refused_not_truncated() -> None:
    with pytest.raises(DriverError):
        connect._emit({"password": "a\x00host=evil"})
    with pytest.raises(DriverError):
        connect.quote_ident("a\x00b")


def _fields(**fields: object) -> ResolvedConnection:
    return ResolvedConnection(family="postgres", alias="wh", fields=dict(fields))


@settings(max_examples=200, deadline=None)
@given(host=st.one_of(st.just("127.0.0.1"), st.just("db.internal")), user=st.one_of(TEXT, NASTY),
       password=st.one_of(TEXT, NASTY), database=st.one_of(TEXT, NASTY))
def test_a_connections_fields_reach_libpq_unchanged(host: str, user: str, password: str, database: str) -> None:
    parsed = conninfo_to_dict(params_from(_fields(host=host, user=user, password=password,
                                                  database=database)).conninfo)
    assert parsed["host"] == host and parsed["hostaddr"] == ""
    assert parsed["user"] == user and parsed["dbname"] == database
    assert parsed.get("password") == (password or None)
    assert ("require_auth" in parsed) == (host != "127.0.0.1")


def test_a_dsns_parts_are_kept_and_the_timeout_override_wins() -> None:
    params = params_from(_fields(dsn="postgresql://u:p%20w@db.internal:6543/d?application_name=mine",
                                 sslmode="verify-full"))
    parsed = conninfo_to_dict(params.with_timeout(2.5).conninfo)
    assert parsed == {"user": "u", "password": "p w", "dbname": "d", "host": "db.internal", "port": "6543",
                      "application_name": "mine", "sslmode": "verify-full", "hostaddr": "",
                      "connect_timeout": "3"}


def test_a_run_without_a_dsn_does_not_import_psycopg() -> None:
    import subprocess

    code = ("import sys\nfrom osiris.drivers.postgres import params_from\n"
            "from osiris.drivers.postgres.extract import select_sql\n"
            "from osiris.runtime.driver import ResolvedConnection\n"
            "p = params_from(ResolvedConnection(family='postgres', alias='a', fields={'host': 'h', 'user': 'u'}))\n"
            "select_sql({'table': 'sales.orders'}, 'public')\n"
            "print('psycopg' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
