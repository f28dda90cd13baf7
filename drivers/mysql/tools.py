"""The connection-level capabilities both MySQL components share (Discoverer + HealthCheck);
the `osiris.discovery` entry point `mysql` names this class."""

from __future__ import annotations

from osiris.drivers.mysql.discovery import discover, fingerprint
from osiris.drivers.mysql.health import health_check
from osiris.runtime.driver import DiscoveryResult, HealthReport, ResolvedConnection


class MySQLConnectionTools:
    """discover and health_check, shared by the extractor and the writer."""

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        return discover(connection, tables=tables, sample_rows=sample_rows)

    def fingerprint(self, connection: ResolvedConnection | None, *, path: str | None = None) -> str:
        return fingerprint(connection)

    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        return health_check(connection, timeout_s)
