"""The compiled MySQL row decoder for the tests that need it."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from osiris.drivers.mysql.native import decoder_module


def require_myrows() -> ModuleType:
    """The compiled module; a missing build fails under CI (the install must build it) and skips elsewhere."""
    module = decoder_module()
    if module is None:
        message = "the native MySQL row decoder is not built (no C compiler at install time)"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: `make install` must build it)", pytrace=False)
        pytest.skip(message)
    return module


@pytest.fixture
def no_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto as on an install without a C compiler: the connectorx and pymysql paths are what remains."""
    from osiris.drivers.mysql import native

    monkeypatch.setattr(native, "decoder_module", lambda: None)
