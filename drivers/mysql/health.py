"""Connection health: connect, run SELECT 1, report the round trip and the server version."""

from __future__ import annotations

import time

from osiris.drivers.mysql.connect import classify, conn_params, connect
from osiris.runtime.driver import DriverError, HealthReport, ResolvedConnection

__all__ = ["health_check"]


def health_check(connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
    """Never raises: a failure is a report with ok=False and a masked message."""
    started = time.perf_counter()
    params = None
    try:
        params = conn_params(connection)
        conn = connect(params, connect_timeout=timeout_s)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1, VERSION()")
                _, version = cur.fetchone()
        finally:
            conn.close()
    except Exception as error:  # noqa: BLE001 - reported, not raised
        failure = error if isinstance(error, DriverError) else classify(error, params, action="check")
        return HealthReport(
            ok=False,
            message=str(failure),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            details={"hint": failure.hint} if failure.hint else {},
        )
    latency = round((time.perf_counter() - started) * 1000, 2)
    return HealthReport(
        ok=True,
        message=f"connected to {params.where} ({version})",
        latency_ms=latency,
        details={"server_version": version, "host": params.host, "port": params.port,
                 "database": params.database},
    )
