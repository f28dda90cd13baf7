"""Fixtures shared by the attack tests: the chat's project directory and local replay endpoint."""

from tests.llm.conftest import endpoint, project  # noqa: F401 - re-exported fixtures
