"""Object stores for the file drivers: `s3://`, `gs://` and `az://` paths through `pyarrow.fs`.

A URI is accepted only with a connection of its store's family (compiler/path_policy.py,
`store_problem`: the compiler checked it, this checks again at run time), and the file system
is built from that connection's resolved fields alone: region, endpoint and keys come from
osiris_connections.yaml (runtime.connections, the one resolver), never from the OML, so a key
goes only to the endpoint written next to it. Nothing here prints a field value.

Writes are published atomically per step (`StagedPrefix`): every object is written under a
temporary prefix beside the target (`<target>.osiris-tmp-<token>/`), and only when the whole
stream has been written are the objects copied into place (server-side copies) and the
target's previous objects that the new set does not overwrite removed. A failed or cancelled
run removes its temporary prefix and leaves the target prefix exactly as it was. Object
stores have no multi-object rename, so while the copies run a reader listing the prefix can
see new and old objects side by side; it never sees a partly written object.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from osiris.compiler.path_policy import STORE_SCHEMES, store_problem, store_scheme
from osiris.drivers.common.transport import note_transport
from osiris.runtime.driver import DriverError, HealthReport, ResolvedConnection

__all__ = ["StagedPrefix", "StoreLocation", "is_store_uri", "open_store", "store_error", "store_health"]

TEMP_MARK = ".osiris-tmp-"


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


class StagedPrefix:
    """Objects written under a temporary prefix, published into `target` all together (see the
    module docstring). `target` is `bucket/key`: a prefix (dataset) or one object (`single`)."""

    def __init__(self, location: StoreLocation, *, single: bool, overwrite: bool) -> None:
        self.location, self.single, self.overwrite = location, single, overwrite
        self.fs, self.target = location.fs, location.path
        bucket_end = self.target.find("/")
        if bucket_end < 0 and single:
            raise DriverError(f"cannot write {location.shown}: it names a bucket, not an object",
                              hint="add a key after the bucket, e.g. s3://bucket/out/data.parquet")
        self.temp = f"{self.target}{TEMP_MARK}{secrets.token_hex(8)}"
        self.written: list[str] = []
        """Relative names written under the temporary prefix."""

    def path(self, name: str) -> str:
        """Where to write object `name` (relative to the target prefix) while the step runs."""
        self.written.append(name)
        return f"{self.temp}/{name}"

    def _existing(self) -> list[str]:
        """Objects now under the target (relative names); [] when there are none."""
        if self.single:
            info = self.fs.get_file_info(self.target)
            return [""] if info.type == pafs.FileType.File else []
        selector = pafs.FileSelector(self.target, recursive=True, allow_not_found=True)
        return sorted(info.path[len(self.target) + 1:] for info in self.fs.get_file_info(selector)
                      if info.type == pafs.FileType.File and TEMP_MARK not in info.path)

    def publish(self) -> None:
        existing = self._existing()
        if existing and not self.overwrite:
            raise DriverError(f"{self.location.shown} already exists and overwrite is false",
                              hint="set `overwrite: true` or remove the objects")
        if self.single:
            self.fs.copy_file(f"{self.temp}/{self.written[0]}", self.target)
        else:
            for name in self.written:
                self.fs.copy_file(f"{self.temp}/{name}", f"{self.target}/{name}")
            stale = set(existing) - set(self.written)
            for name in sorted(stale):
                self.fs.delete_file(f"{self.target}/{name}")
        self.discard()

    def discard(self) -> None:
        """Remove the temporary prefix (quietly: the step's own error matters more)."""
        for name in self.written:
            with contextlib.suppress(Exception):
                self.fs.delete_file(f"{self.temp}/{name}")
        with contextlib.suppress(Exception):
            self.fs.delete_dir(self.temp)

    @contextlib.contextmanager
    def session(self) -> Iterator[StagedPrefix]:
        """Yield self; publish on success, discard on any failure (Cancelled and Ctrl-C included)."""
        try:
            yield self
            self.publish()
        except BaseException as error:
            self.discard()
            if isinstance(error, (pa.ArrowException, OSError)):
                raise store_error(error, f"cannot write {self.location.shown}") from None
            raise
