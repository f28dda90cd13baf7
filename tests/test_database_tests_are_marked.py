"""A test that reaches a real database carries the marker for it, or the run stops at collection.

`-m "not mysql"` must leave the server alone, and CI's service checks rely on the markers, so
tests/conftest.py refuses to collect a test that uses the `mysql_db` or `postgres_db` fixture,
directly or through another fixture, without `@pytest.mark.mysql` / `@pytest.mark.postgres`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _collect(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text("import pytest\n\n" + body, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
         "-p", "tests.conftest", "-p", "no:cacheprovider", "--collect-only", "-q", str(probe)],
        cwd=REPO, capture_output=True, text=True, timeout=120)


def test_an_unmarked_database_test_stops_the_run(tmp_path: Path) -> None:
    result = _collect(tmp_path, """
@pytest.fixture
def db(postgres_db):
    return postgres_db

def test_direct(mysql_db):
    pass

@pytest.mark.postgres
def test_marked_for_the_wrong_server(mysql_db):
    pass

def test_through_a_fixture(db):
    pass

def test_no_database():
    pass
""")
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert "database tests without their marker" in output
    assert "::test_direct uses mysql_db without @pytest.mark.mysql" in output
    assert "::test_marked_for_the_wrong_server uses mysql_db without @pytest.mark.mysql" in output
    assert "::test_through_a_fixture uses postgres_db without @pytest.mark.postgres" in output
    assert "test_no_database uses" not in output


def test_marked_database_tests_are_collected(tmp_path: Path) -> None:
    result = _collect(tmp_path, """
pytestmark = pytest.mark.postgres

@pytest.mark.mysql
def test_both(mysql_db, postgres_db):
    pass

def test_module_marker(postgres_db):
    pass
""")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 tests collected" in result.stdout
