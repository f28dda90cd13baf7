"""`osiris run` pays only for the driver code a step uses: importing the PostgreSQL extractor
loads neither the writer nor ADBC's DB-API layer (~20-35 ms of every run's start-up, measured
in docs/performance.md), and the package's names still resolve for the modules that use them."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after(statement: str, names: tuple[str, ...]) -> list[str]:
    code = f"import sys\n{statement}\nprint([n for n in {names!r} if n in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(done.stdout.strip())  # noqa: S307 - the list this test's own child printed


def test_the_extractor_loads_no_writer_and_no_adbc_dbapi() -> None:
    assert _loaded_after("import osiris.drivers.postgres.extractor",
                         ("osiris.drivers.postgres.write", "adbc_driver_manager.dbapi")) == []


def test_the_writer_loads_its_own_module() -> None:
    assert _loaded_after("import osiris.drivers.postgres.writer",
                         ("osiris.drivers.postgres.write",)) == ["osiris.drivers.postgres.write"]


@pytest.mark.parametrize("name", __import__("osiris.drivers.postgres", fromlist=["__all__"]).__all__)
def test_every_exported_name_resolves(name: str) -> None:
    import osiris.drivers.postgres as package

    assert getattr(package, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    import osiris.drivers.postgres as package

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        package.nope  # noqa: B018
