"""`osiris connections doctor` for a filesystem alias: is its `base_dir` there and usable?
(An `@s3`, `@gcs` or `@azure` alias, which the file drivers also read and write with, is asked
to list its buckets instead: drivers/common/objectstore.py.)

A file connection has no server to reach; what fails at run time instead is a `base_dir` that
does not exist, is a file, or cannot be written (every writer publishes into it) or read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from osiris.runtime.driver import HealthReport, ResolvedConnection

__all__ = ["FileConnectionTools"]


class FileConnectionTools:
    """Mixed into the file drivers: the health check of a `@filesystem` alias."""

    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        if connection.family in ("s3", "gcs", "azure"):
            from osiris.drivers.common.objectstore import store_health

            return store_health(connection, timeout_s)
        start = time.perf_counter()
        written = connection.get("base_dir")
        where = Path(str(written)).expanduser() if written else Path.cwd()
        shown = f"base_dir {written}" if written else "the working directory (no base_dir)"
        if not where.exists():
            ok, message = False, f"{shown} does not exist"
        elif not where.is_dir():
            ok, message = False, f"{shown} is not a directory"
        elif not os.access(where, os.R_OK | os.X_OK):
            ok, message = False, f"{shown} cannot be read"
        elif not os.access(where, os.W_OK):
            ok, message = False, f"{shown} is read-only: extractors work, writers will fail"
        else:
            ok, message = True, f"{shown} is a readable and writable directory"
        return HealthReport(ok, message, (time.perf_counter() - start) * 1000)
