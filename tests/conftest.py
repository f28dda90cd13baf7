"""Shared fixtures: real MariaDB and PostgreSQL, scratch databases, repository paths.

Tests that need a database use the real local server. When it does not answer they skip,
except under CI (``CI`` set), where an absent service is a failure: CI must never pass by
skipping the tests that matter.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent

# Hypothesis, for every test that uses it (here, not in tests/property/, so `pytest tests/security`
# gets it too): no deadline (the machine is shared, timings are not behaviour), and under CI
# derandomized with the failing example's blob printed, so a red build replays the same examples.
# Each property sets its own max_examples.
settings.register_profile("osiris", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("osiris-ci", parent=settings.get_profile("osiris"), derandomize=True, print_blob=True)
settings.load_profile("osiris-ci" if os.environ.get("CI") else "osiris")
def _conformance_dir() -> Path:
    """`../shared/conformance/upstream-v0.1.0` beside the checkout (as the brief places it);
    OSIRIS_CONFORMANCE_DIR overrides it, and /work/shared is the fallback for clones elsewhere."""
    candidates = [os.environ.get("OSIRIS_CONFORMANCE_DIR"), REPO.parent / "shared" / "conformance" / "upstream-v0.1.0",
                  "/work/shared/conformance/upstream-v0.1.0"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return REPO.parent / "shared" / "conformance" / "upstream-v0.1.0"


CONFORMANCE = _conformance_dir()

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""}


def _unavailable(service: str, error: Exception) -> None:
    message = f"{service} is not reachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI=true: services must run, see .ci/run)", pytrace=False)
    pytest.skip(message)


def _scratch_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def mysql_db() -> Iterator[dict]:
    """A fresh MariaDB database for one test module; yields connection fields."""
    import pymysql

    name = _scratch_name("osiris_t")
    try:
        admin = pymysql.connect(**MYSQL, connect_timeout=3, autocommit=True)
    except Exception as error:  # noqa: BLE001 - any failure means the service is absent
        _unavailable("MariaDB at 127.0.0.1:3306", error)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield {**MYSQL, "database": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[dict]:
    """A fresh PostgreSQL database for one test module; yields connection fields plus `dsn`."""
    import psycopg

    name = _scratch_name("osiris_t")
    base = f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}"
    try:
        admin = psycopg.connect(f"{base}/test", connect_timeout=3, autocommit=True)
    except Exception as error:  # noqa: BLE001
        _unavailable("PostgreSQL at 127.0.0.1:5432", error)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**POSTGRES, "database": name, "dsn": f"{base}/{name}"}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance data missing at {CONFORMANCE}", pytrace=False)
    return CONFORMANCE


DATABASE_FIXTURES = {"mysql_db": "mysql", "postgres_db": "postgres"}
"""A test that uses one of these fixtures (directly or through another fixture) needs the marker,
so `-m "not mysql"` really leaves the server alone and the markers cannot drift from the code."""


def unmarked_database_tests(items: list[pytest.Item]) -> list[str]:
    return [f"{item.nodeid} uses {fixture} without @pytest.mark.{marker}"
            for item in items for fixture, marker in DATABASE_FIXTURES.items()
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = unmarked_database_tests(items)
    if problems:
        raise pytest.UsageError("database tests without their marker:\n  " + "\n  ".join(problems))
