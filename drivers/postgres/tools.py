"""The connection-level capabilities both Postgres components share (Discoverer + HealthCheck);
the `osiris.discovery` entry point `postgres` names this class."""

from __future__ import annotations

from osiris.drivers.postgres import discover, fingerprint, health_check, params_from
from osiris.runtime.driver import DiscoveryResult, HealthReport, ResolvedConnection


class PostgresConnectionTools:
    """discover and health_check, shared by the extractor and the writer."""

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        params = params_from(connection)
        return discover(
            params, tables=tables, sample_rows=sample_rows, source=connection.ref if connection else ""
        )

    def fingerprint(self, connection: ResolvedConnection | None, *, path: str | None = None) -> str:
        return fingerprint(params_from(connection))

    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        return health_check(params_from(connection), timeout_s)
