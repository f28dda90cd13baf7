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

from osiris.compiler.sql_lexing import DUCKDB_SPACES
from tests.security import sqlgen
from tests.security.sqlparams import Server, ServerError, compile_sql, servers

pytestmark = [pytest.mark.mysql, pytest.mark.postgres]
DIALECTS = ("mysql", "postgres", "duckdb")
BASE = "osirisbase"
"""The neutral value each adversarial query is compared with."""
PROFILE = settings(max_examples=int(os.environ.get("OSIRIS_SQL_EXAMPLES", "60")), deadline=None,
                   derandomize=True, database=None,
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


ROWS = ["a", "A", "a ", "it's", "\\", "\\'", "x' OR '1'='1", "", " ", "é", "😀", "--", "/*", "$$", "\n"]
"""The filtered table: values a hostile parameter might try to widen a filter to."""


@pytest.fixture(scope="module")
def filtered(live: dict[str, Server]) -> dict[str, Server]:
    for server in live.values():
        server.rows("CREATE TABLE rows_t (id INT, s VARCHAR(20))")
        server.insert("rows_t", list(enumerate(ROWS)))
    return live


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_filter_returns_only_the_rows_the_server_finds_equal_to_the_value(filtered, dialect: str) -> None:
    server = filtered[dialect]

    @PROFILE
    @given(value=sqlgen.values | st.sampled_from(ROWS), comments=st.lists(sqlgen.comment(dialect), max_size=2),
           quoted=st.booleans(), tail=st.sampled_from(["", " -- end '", " /* ' */", "\n-- '"]))
    def check(value: str, comments: list[str], quoted: bool, tail: str) -> None:
        ref = "'${params.v}'" if quoted else "${params.v}"
        query = f"SELECT id FROM rows_t WHERE {' '.join(comments)} s = {ref}{tail}"
        compiled = compile_sql(dialect, query, {"v": value})
        if compiled.codes:
            assert compiled.refused, compiled
            return
        assert compiled.sql is not None
        got = sorted(r[0] for r in server.rows(compiled.sql))
        want = sorted(r[0] for r in server.rows_where_equal("rows_t", "s", value))
        assert got == want, f"{dialect}: {compiled.sql!r} returned ids {got}, the server's binding {want}"

    check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_numbers_and_booleans_arrive_exactly(live, dialect: str) -> None:
    numbers = st.integers(-(2**62), 2**62).map(lambda n: ("integer", n)) | st.floats(
        min_value=-1e300, max_value=1e300, allow_subnormal=False).map(lambda x: ("number", x)) | st.booleans().map(
        lambda b: ("boolean", b))

    @PROFILE
    @given(items=sqlgen.prefix_items(dialect), typed=numbers, op=st.sampled_from(["", "-", "- ", "1 -", "1-", "+"]))
    def check(items: list[str], typed: tuple[str, object], op: str) -> None:
        kind, value = typed
        if kind == "boolean" or (kind == "number" and op not in ("", "-", "- ")):
            op = ""  # exact arithmetic only: integers, and negation
        text = repr(value) if kind == "number" else str(value).lower()
        query = "SELECT " + "".join(f"{item}, " for item in items) + f"{op}${{params.v}} AS v"
        compiled = compile_sql(dialect, query, {"v": text}, {"v": kind})
        if compiled.codes:
            assert compiled.refused, compiled
            return
        assert compiled.sql is not None
        result = _run(live[dialect], compiled.sql)
        if isinstance(result, ServerError):  # the prefix alone must be what the server refuses
            base = compile_sql(dialect, query, {"v": {"integer": "7", "number": "7.5"}.get(kind, "true")}, {"v": kind})
            assert base.sql is not None and isinstance(_run(live[dialect], base.sql), ServerError), \
                f"{dialect}: the value broke the SQL: {compiled.sql!r}: {result}"
            return
        got = server_value(result[0][-1])
        expected = {"": value, "+": value, "-": -value, "- ": -value,  # type: ignore[operator]
                    "1 -": 1 - value, "1-": 1 - value}[op]  # type: ignore[operator]
        assert got is not None and float(got) == float(expected), f"{dialect}: {compiled.sql!r} -> {got!r}"

    check()


def server_value(value: object) -> object:
    """Booleans come back as 1/0 from MariaDB, numbers as Decimal or text from some drivers."""
    if isinstance(value, (bytes, str)):
        return float(value)
    return value
