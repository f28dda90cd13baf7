"""The connection-level capabilities both Supabase components share (Discoverer + HealthCheck);
the `osiris.discovery` entry point `supabase` names this class."""

from __future__ import annotations

from osiris.drivers.supabase.discovery import discover, fingerprint, health_check
from osiris.runtime.driver import DiscoveryResult, HealthReport, ResolvedConnection


class SupabaseConnectionTools:
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

    def fingerprint(self, connection: ResolvedConnection | None, *, path: str | None = None) -> str | None:
        return fingerprint(connection)

    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        return health_check(connection, timeout_s)
