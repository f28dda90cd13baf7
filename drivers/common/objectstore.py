"""Object stores for the file drivers: `s3://`, `gs://` and `az://` paths through `pyarrow.fs`.

A URI is accepted only with a connection of its store's family (compiler/path_policy.py,
`store_problem`: the compiler checked it, this checks again at run time), and the file system
is built from that connection's resolved fields alone: region, endpoint and keys come from
osiris_connections.yaml (runtime.connections, the one resolver), never from the OML, so a key
goes only to the endpoint written next to it. Nothing here prints a field value.

Writes are staged and published by drivers/common/store_publish.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from osiris.compiler.path_policy import store_problem, store_scheme
from osiris.drivers.common.transport import note_transport
from osiris.runtime.driver import DriverError, HealthReport, ResolvedConnection

__all__ = ["StoreLocation", "is_store_uri", "open_store", "store_error", "store_health"]

def is_store_uri(path: str) -> bool:
    return store_scheme(path) is not None


@dataclass(frozen=True)
class StoreLocation:
    """Where a step reads or writes in an object store: the file system and `bucket/key`."""

    fs: pafs.FileSystem
    path: str
    """`bucket/key...` without a trailing slash, as pyarrow.fs names it."""
    shown: str
    """The URI as written (for messages)."""
    scheme: str

    def uri(self, path: str) -> str:
        return f"{self.scheme}://{path}"

    def shown_of(self, path: str) -> str:
        """An object of this location as a URI (messages, results)."""
        return self.uri(path)


def open_store(connection: ResolvedConnection | None, raw_path: str) -> StoreLocation:
    """The file system and path for an object-store URI, or a DriverError (OML084/OML086)."""
    problem = store_problem(raw_path, connection.ref if connection is not None else None)
    if problem is not None:
        raise DriverError(f"{problem.message} [{problem.code}]", hint=problem.hint)
    assert connection is not None
    scheme = str(store_scheme(raw_path))
    path = raw_path.split("://", 1)[1].rstrip("/")
    return StoreLocation(store_filesystem(connection), path, raw_path, scheme)


def store_filesystem(connection: ResolvedConnection) -> pafs.FileSystem:
    """The pyarrow file system of an `@s3`, `@gcs` or `@azure` alias (DriverError if unusable)."""
    try:
        authority, endpoint_scheme = _endpoint(connection)
        if endpoint_scheme == "http" and authority is not None:  # keys in plaintext to a remote host: say so
            note_transport(connection, [urlsplit(f"http://{authority}").hostname or authority],
                           "over http:// (its `endpoint` has no TLS)")
        return _FACTORIES[connection.family](connection)
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError) as error:
        raise DriverError(f"cannot open {connection.ref}: {_first_line(error)}",
                          hint=f"check the {connection.family} alias in osiris_connections.yaml") from None


def _endpoint(connection: ResolvedConnection) -> tuple[str | None, str | None]:
    """(authority, scheme) of the alias's `endpoint` URL, or (None, None)."""
    endpoint = connection.get("endpoint")
    if not endpoint:
        return None, None
    parts = urlsplit(str(endpoint) if "://" in str(endpoint) else f"https://{endpoint}")
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise ValueError("`endpoint` must be http(s)://host[:port]")
    return parts.netloc, parts.scheme


def _s3(connection: ResolvedConnection) -> pafs.FileSystem:
    authority, scheme = _endpoint(connection)
    options: dict[str, Any] = {"region": connection.get("region") or None,
                               "endpoint_override": authority, "scheme": scheme or "https",
                               "allow_bucket_creation": False, "allow_bucket_deletion": False,
                               "check_directory_existence_before_creation": False}
    if connection.get("anonymous"):
        options["anonymous"] = True
    elif connection.get("access_key_id") or connection.get("secret_access_key"):
        options.update(access_key=connection.get("access_key_id"), secret_key=connection.get("secret_access_key"),
                       session_token=connection.get("session_token") or None)
    return pafs.S3FileSystem(**{k: v for k, v in options.items() if v is not None})


def _gcs(connection: ResolvedConnection) -> pafs.FileSystem:
    authority, scheme = _endpoint(connection)
    options: dict[str, Any] = {"endpoint_override": authority, "scheme": scheme,
                               "project_id": connection.get("project_id") or None,
                               "retry_time_limit": timedelta(seconds=30)}
    if connection.get("anonymous"):
        options["anonymous"] = True
    elif connection.get("access_token"):
        options.update(access_token=connection.get("access_token"),
                       credential_token_expiration=datetime.now(UTC) + timedelta(hours=1))
    return pafs.GcsFileSystem(**{k: v for k, v in options.items() if v is not None})


def _azure(connection: ResolvedConnection) -> pafs.FileSystem:
    authority, scheme = _endpoint(connection)
    options: dict[str, Any] = {"account_key": connection.get("account_key") or None,
                               "sas_token": connection.get("sas_token") or None}
    if authority is not None:  # an emulator or private endpoint answers both APIs at one address
        options.update(blob_storage_authority=authority, blob_storage_scheme=scheme,
                       dfs_storage_authority=authority, dfs_storage_scheme=scheme)
    return pafs.AzureFileSystem(str(connection.get("account_name")),
                                **{k: v for k, v in options.items() if v is not None})


_FACTORIES = {"s3": _s3, "gcs": _gcs, "azure": _azure}


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


def store_health(connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
    """`osiris connections doctor` for an `@s3`, `@gcs` or `@azure` alias: list the buckets (or
    containers) it can see, within `timeout_s`. The keys go only to the alias's own endpoint."""
    import threading
    import time

    start = time.perf_counter()
    outcome: dict[str, Any] = {}

    def probe() -> None:
        try:
            fs = store_filesystem(connection)
            if connection.family == "gcs":  # pyarrow lists no GCS buckets: ask for one that is not there
                fs.get_file_info(f"osiris-health-{secrets.token_hex(6)}")
                outcome["buckets"] = None
            else:
                infos = fs.get_file_info(pafs.FileSelector("", recursive=False))
                outcome["buckets"] = sum(1 for i in infos if i.type == pafs.FileType.Directory)
        except DriverError as error:
            outcome["error"] = str(error)
        except (pa.ArrowException, OSError, ValueError) as error:
            outcome["error"] = f"cannot list the buckets: {_first_line(error)}"

    worker = threading.Thread(target=probe, name="osiris-store-health", daemon=True)
    worker.start()
    worker.join(timeout_s)
    took = (time.perf_counter() - start) * 1000
    if worker.is_alive():
        return HealthReport(False, f"no answer within {timeout_s:g} s", took)
    if "error" in outcome:
        return HealthReport(False, outcome["error"], took)
    buckets = outcome["buckets"]
    if buckets is None:
        return HealthReport(True, "answers (an unknown bucket came back as not found)", took)
    noun = "container" if connection.family == "azure" else "bucket"
    return HealthReport(True, f"answers; {buckets} {noun}{'s' if buckets != 1 else ''} visible", took)


def store_error(error: BaseException, what: str) -> DriverError:
    """A pyarrow.fs failure as a one-line DriverError (the SDKs' messages hold no secret)."""
    return DriverError(f"{what}: {_first_line(error)}", hint="check the bucket, the path and the alias's "
                       "endpoint and credentials in osiris_connections.yaml")
