"""The REST path: the `supabase` client against PostgREST, for connections without `dsn`.

Reads page through the table with ``order`` + ``range`` (``page_size`` rows per request) and
stop at the first empty page, so a server-side max-rows cap smaller than `page_size` cannot cut
the result short. Writes send batched inserts or upserts (``on_conflict`` = primary key).

What REST cannot give: a transaction spanning requests. Each request commits on its own, so
the writer first spools the whole input to a local Arrow file (an upstream failure or a
cancel before the first request leaves the table untouched), then sends it; if request k
fails, the rows of requests 1..k-1 stay written and the error says how many. `replace` and
`create_if_missing` (for a missing table) are refused over REST: both need the Postgres
path (`dsn`), which runs everything in one transaction.

Redirects are never followed: every request carries the API key (as `apikey` and
`Authorization`), and httpx would re-send `apikey` to whatever host a redirect names. A 3xx
answer fails the request (`RedirectRefused`), whatever its target, and the message says
where it pointed so the operator can fix the alias's `url`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pyarrow as pa

from osiris.drivers.common import os_error
from osiris.drivers.postgres.errors import HINTS, TRANSIENT_STATES, scrub
from osiris.drivers.supabase.filters import Filter, OrderTerm
from osiris.drivers.supabase.settings import RestSettings
from osiris.runtime.driver import DriverError, TransientError

__all__ = ["RedirectRefused", "RestSession", "classify_rest", "rest_table", "spool", "spooled"]

# PostgREST passes PostgreSQL's SQLSTATEs through: those come from the shared Postgres tables.
_TRANSIENT_CODES = TRANSIENT_STATES | {"PGRST000", "PGRST001", "PGRST002", "PGRST003"}
_AUTH_CODES = {"PGRST300", "PGRST301", "PGRST302", "42501"}
_HINTS = {
    **HINTS,
    "PGRST205": "check the table name and `schema`; the schema must be exposed by the API",
    "PGRST106": "the schema is not exposed by the API (Supabase: Settings > API > Exposed schemas)",
}


def classify_rest(error: BaseException, *, action: str, settings: RestSettings) -> DriverError:
    """User-facing error for a failed REST call; the API key never appears in it."""
    from postgrest.exceptions import APIError

    where = f"Supabase {settings.ref} {settings.url}"
    if isinstance(error, DriverError):
        return error
    if isinstance(error, APIError):
        code = error.code or ""
        detail = f" ({error.details})" if error.details else ""
        text = scrub(f"{error.message or 'request failed'}{detail}", (settings.key,))
        message = f"{where}: {action} failed [{code}]: {text}"
        hint = _HINTS.get(code) or (error.hint if isinstance(error.hint, str) else None)
        if code in _AUTH_CODES:
            hint = "check the API key; writes usually need `service_role_key`"
        cls = TransientError if code in _TRANSIENT_CODES or code.startswith("08") else DriverError
        return cls(message, hint=hint)
    if isinstance(error, httpx.TransportError):
        text = scrub(str(error) or type(error).__name__, (settings.key,))
        return TransientError(
            f"{where}: {action} failed: {text}", hint="the API did not answer; the step can be retried"
        )
    text = scrub(str(error), (settings.key,))
    return DriverError(f"{where}: {action} failed: {type(error).__name__}: {text}")


def rest_table(table: str) -> str:
    """`table` when it names one path segment under /rest/v1/, else DriverError.

    The client puts the name into the request path as text: httpx percent-encodes `?`, `#`, `%`
    and `\\`, but keeps `/` and resolves `.` and `..` segments, so `../../auth/v1/admin/users`
    would send the service-role key to another API of the same server (Auth, Storage, RPC)."""
    if "/" in table or table.strip() in (".", ".."):
        raise DriverError(
            f"table {table[:200]!r} cannot be read or written over the REST API: a REST table name is "
            "one path segment (no '/', not '.' or '..')",
            hint="name a table of the API's schema; other endpoints of the server are not tables",
        )
    return table


class RedirectRefused(DriverError):
    """The API answered with a redirect; following it would send the key along."""


def _refuse_redirect(response: httpx.Response) -> None:
    if not response.is_redirect:
        return
    target = response.headers.get("location", "")
    try:
        where = response.request.url.join(target)
        shown = str(where.copy_with(username=None, password=None, query=None, fragment=None))
    except (httpx.InvalidURL, ValueError):
        shown = target[:200]
    raise RedirectRefused(
        f"the Supabase API at {response.request.url.host} answered HTTP {response.status_code}, a redirect "
        f"to {shown}: Osiris does not follow redirects, which would carry the API key",
        hint="set the connection's `url` to the address the API really answers at",
    )


class RestSession:
    """One supabase client with its own HTTP connection pool, closed when the session ends."""

    def __init__(self, settings: RestSettings) -> None:
        from supabase import ClientOptions, create_client

        self.settings = settings
        self._http = httpx.Client(timeout=settings.timeout, follow_redirects=False,
                                  event_hooks={"response": [_refuse_redirect]})
        try:
            options = ClientOptions(schema=settings.schema, httpx_client=self._http)
            self.client = create_client(settings.url, settings.key, options=options)
        except Exception as error:  # noqa: BLE001 - e.g. a malformed URL; keep the key out of it
            self._http.close()
            raise DriverError(
                f"Supabase {settings.ref}: cannot create a client for {settings.url}: "
                f"{scrub(str(error), (settings.key,))}"
            ) from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """PostgREST's OpenAPI document for the session's schema (GET /rest/v1/)."""
        postgrest = self.client.postgrest
        headers = {**dict(postgrest.headers), "Accept": "application/openapi+json, application/json"}
        try:
            response = self._http.get(str(postgrest.base_url).rstrip("/") + "/", headers=headers)
        except httpx.HTTPError as error:
            raise classify_rest(error, action="reading the API schema", settings=self.settings) from None
        if response.status_code >= 400:
            from postgrest.exceptions import APIError

            try:
                body = response.json()
            except ValueError:
                body = {"message": f"HTTP {response.status_code}", "code": str(response.status_code)}
            error = classify_rest(APIError(body), action="reading the API schema", settings=self.settings)
            if response.status_code in (401, 403):
                error.hint = (
                    "column types come from the API's OpenAPI schema, which needs a key allowed to read it "
                    "(use `service_role_key`), or add `dsn` to read through Postgres"
                )
            raise error
        try:
            return response.json()
        except ValueError:
            raise DriverError(
                f"{postgrest.base_url} did not return an API schema (the reply is not JSON)",
                hint="check the connection's `url`: it should be the project's URL (https://<ref>.supabase.co)",
            ) from None

    def definition(self, table: str) -> dict[str, Any] | None:
        return (self.openapi().get("definitions") or {}).get(table)

    # --- reads ----------------------------------------------------------------------------

    def pages(
        self,
        table: str,
        select: str,
        filters: list[Filter],
        order: list[OrderTerm],
        *,
        offset: int,
        limit: int | None,
        page_size: int,
        any_of: str | None = None,
    ) -> Iterator[list[Mapping[str, Any]]]:
        """Yield pages of rows until the table (or `limit`) is exhausted; `any_of` is a
        PostgREST `or` tree (`(a.gt.1,a.is.null)`) every row must also satisfy."""
        remaining = limit
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            query = self.client.table(rest_table(table)).select(select)
            for item in filters:
                query = query.filter(item.column, item.operator, item.value)
            if any_of:
                query = query.or_(any_of.removeprefix("(").removesuffix(")"))
            for term in order:
                query = query.order(term.column, desc=term.desc, nullsfirst=term.nulls_first)
            rows = self._execute(query.range(offset, offset + size - 1), f"reading {table}").data
            if not rows:
                return
            yield rows
            offset += len(rows)
            if remaining is not None:
                remaining -= len(rows)

    def count(self, table: str) -> int | None:
        response = self._execute(
            self.client.table(rest_table(table)).select("*", count="estimated").range(0, 0), f"counting {table}"
        )
        return response.count

    def _execute(self, query: Any, action: str) -> Any:
        try:
            return query.execute()
        except Exception as error:  # noqa: BLE001 - classified below, key scrubbed
            raise classify_rest(error, action=action, settings=self.settings) from None

    # --- writes ---------------------------------------------------------------------------

    def send(self, table: str, rows: list[dict[str, Any]], *, upsert_on: tuple[str, ...]) -> None:
        from postgrest.types import ReturnMethod

        builder = self.client.table(rest_table(table))
        if upsert_on:
            query = builder.upsert(rows, on_conflict=",".join(upsert_on), returning=ReturnMethod.minimal)
        else:
            query = builder.insert(rows, returning=ReturnMethod.minimal)
        self._execute(query, f"writing {table}")


def spool(data: pa.RecordBatchReader, path: Any, check_cancelled: Any) -> int:
    """Copy the whole input stream to an Arrow IPC file before any request is sent.

    Failing to write the file (disk full) is a DriverError; an error of the input passes
    through. Either way the partial file is removed.
    """
    rows, reading = 0, False
    try:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
            reading = True
            for batch in data:
                reading = False
                check_cancelled()
                if batch.num_rows:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                reading = True
            reading = False
    except BaseException as error:
        with contextlib.suppress(OSError):
            path.unlink()
        if isinstance(error, OSError) and not reading:
            raise os_error(error, "the REST write's spool file") from None
        raise
    return rows


@contextlib.contextmanager
def spooled(path: Any) -> Iterator[Iterator[pa.RecordBatch]]:
    """Iterate a spooled file's batches memory-mapped, and delete the file afterwards."""
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            yield (reader.get_batch(i) for i in range(reader.num_record_batches))
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
