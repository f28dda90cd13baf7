"""Property, against the real MariaDB, PostgreSQL and DuckDB: for generated SQL full of quotes,
escapes, dollar quotes and comments, a bound parameter is either refused at compile time
(OML066/OML067) or reaches the server as exactly its value, and a filter on it never returns a
row the server's own parameter binding would not.

Each query is compiled through the real compiler and the real component spec (so the spec's
`x-sql` dialect is under test), then run with the driver's session setup on a session whose
defaults are hostile (MySQL with ANSI_QUOTES and NO_BACKSLASH_ESCAPES, PostgreSQL with
standard_conforming_strings off), and compared with the same query bound to a neutral value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.sql_lexing import DUCKDB_SPACES
from tests.security import sqlgen
from tests.security.sqlparams import Server, ServerError, compile_sql, servers

pytestmark = [pytest.mark.mysql, pytest.mark.postgres]
DIALECTS = ("mysql", "postgres", "duckdb")
BASE = "osirisbase"
"""The neutral value each adversarial query is compared with."""
PROFILE = settings(max_examples=int(os.environ.get("OSIRIS_SQL_EXAMPLES", "120")), deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def live(mysql_db: dict, postgres_db: dict) -> Iterator[dict[str, Server]]:
    with servers(mysql_db, postgres_db) as opened:
        yield opened


def _run(server: Server, sql: str) -> list[tuple[Any, ...]] | ServerError:
    try:
        return server.rows(sql)
    except ServerError as error:
        return error


def _expect_same_as_base(dialect: str, query: str, value: str, server: Server) -> None:
    """Compile with `value` and with BASE; refused both ways, or the same result with the value swapped in."""
    adversarial = compile_sql(dialect, query, {"v": value})
    base = compile_sql(dialect, query, {"v": BASE})
    # Only one refusal depends on the value: DuckDB rewriting its Unicode spaces (sql_lexing.duckdb_rewrites)
    rewritten = dialect == "duckdb" and DUCKDB_SPACES.search(value) and "DuckDB would turn" in str(adversarial)
    assert adversarial.refused == base.refused or rewritten, f"{dialect}: refusal depends on the value: " \
                                                              f"{adversarial} {base}"
    if adversarial.codes:
        assert adversarial.refused, adversarial
        return
    assert adversarial.sql is not None and base.sql is not None
    got, want = _run(server, adversarial.sql), _run(server, base.sql)
    if isinstance(want, ServerError):
        assert isinstance(got, ServerError), f"{dialect}: only the bound value made this SQL valid:\n" \
                                             f"{adversarial.sql!r}\n-> {got!r}"
        return
    assert not isinstance(got, ServerError), f"{dialect}: the value broke the SQL:\n{adversarial.sql!r}\n{got}"
    assert len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want, strict=True)), \
        f"{dialect}: the value changed the result's shape:\n{adversarial.sql!r}\n{got!r}\nvs {want!r}"
    for got_row, want_row in zip(got, want, strict=True):
        for g, w in zip(got_row, want_row, strict=True):
            expected = w.replace(BASE, value) if isinstance(w, str) else w
            assert g == expected, f"{dialect}: {adversarial.sql!r}\n-> {got_row!r}, expected {expected!r}"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_value_after_a_hostile_prefix_is_refused_or_returned_exactly(live, dialect: str) -> None:
    @PROFILE
    @given(items=sqlgen.prefix_items(dialect), value=sqlgen.values,
           tail=st.sampled_from(["", " -- end", "\n-- end '", " /* end ' */"]))
    def check(items: list[str], value: str, tail: str) -> None:
        query = "SELECT " + "".join(f"{item}, " for item in items) + "${params.v} AS v" + tail
        _expect_same_as_base(dialect, query, value, live[dialect])

    check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_junk_around_a_reference_is_refused_or_harmless(live, dialect: str) -> None:
    @PROFILE
    @given(before=sqlgen.junk(dialect), after=sqlgen.junk(dialect), value=sqlgen.values)
    def check(before: str, after: str, value: str) -> None:
        _expect_same_as_base(dialect, f"SELECT {before} ${{params.v}} {after}", value, live[dialect])

    check()
