"""`duckdb.processor`: run SQL over the step's inputs with DuckDB, streaming the result.

Each input's `dataset()` (Arrow IPC spill files) is registered, not a materialised table, so
DuckDB scans it with projection and filter push-down and can read it more than once (joins,
CTEs). Every input is visible under three names:

- its input name, e.g. `"extract-movies"` (quote names that are not plain identifiers);
- `df_<name>` with every character outside [A-Za-z0-9_] replaced by `_` (`df_extract_movies`);
- `input_df` when there is exactly one input (what pipelines of the original Osiris query).

These are the only things the SQL can reach: the connection is sandboxed (no files, URLs,
extensions, environment or settings; drivers/common/duckdb_conn.py), and pyarrow, not DuckDB's
file system, reads the spill files behind the registered datasets.

DuckDB's memory is capped (`memory_limit`, else the runtime's per-step budget) and it spills
to the step's temp directory beyond that. The result streams out as a RecordBatchReader;
the connection closes when that reader is exhausted or dropped (pyarrow's `close()` on a
Python-backed reader does not reach the Python side, so consumers drop the reader).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from osiris.drivers.common import metered
from osiris.drivers.common.duckdb_conn import closing_batches, connect, duckdb_error, memory_limit_setting, quote_ident
from osiris.runtime.driver import DriverError, InputTable, StepContext

__all__ = ["DuckDBProcessor", "table_names"]

SINGLE_INPUT_ALIAS = "input_df"


def table_names(inputs: Mapping[str, InputTable]) -> dict[str, str]:
    """Every SQL name -> the input key it stands for (primary names win over aliases)."""
    names: dict[str, str] = {key: key for key in inputs}
    for key, table in inputs.items():
        for source in (key, getattr(table, "name", key)):
            alias = "df_" + re.sub(r"[^A-Za-z0-9_]", "_", source)
            names.setdefault(alias, key)
    if len(inputs) == 1:
        names.setdefault(SINGLE_INPUT_ALIAS, next(iter(inputs)))
    return names


class DuckDBProcessor:
    """Transformer: SQL over the inputs, result streamed back."""

    def transform(self, ctx: StepContext, inputs: Mapping[str, InputTable]) -> pa.RecordBatchReader:
        query = ctx.config.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DriverError("`query` is required", hint="write the SQL to run, e.g. SELECT * FROM input_df")
        names = table_names(inputs)
        con = connect(
            ctx.temp_dir,
            memory_limit=memory_limit_setting(ctx.config.get("memory_limit"), ctx.memory_limit_bytes),
            threads=ctx.config.get("threads"),
        )
        try:
            datasets = {key: table.dataset() for key, table in inputs.items()}
            for name, key in sorted(names.items()):
                con.register(name, datasets[key])
            _check_returns_rows(query)
            relation = con.sql(query)
            if relation is None:  # pragma: no cover - _check_returns_rows rules this out
                raise DriverError("the query returns no rows")
            reader = relation.to_arrow_reader(ctx.batch_rows or 65536)
        except duckdb.Error as error:
            con.close()
            raise _sql_error(error, names) from None
        except BaseException:
            con.close()
            raise

        batches = closing_batches(reader, con, prefix="DuckDB query failed")
        return pa.RecordBatchReader.from_batches(reader.schema, metered(ctx, batches))


def _check_returns_rows(query: str) -> None:
    """The step's output is the last statement's result, so that statement must produce rows."""
    statements = duckdb.extract_statements(query)
    if not statements:
        raise DriverError("`query` holds no SQL statement")
    last = statements[-1].type
    if last not in _ROW_STATEMENTS:
        raise DriverError(
            f"the query returns no rows: its last statement is {last.name}, not a SELECT",
            hint="end the query with the SELECT whose result the step outputs",
        )


_ROW_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.MULTI, duckdb.StatementType.EXPLAIN}


def _sql_error(error: duckdb.Error, names: Mapping[str, str]) -> DriverError:
    """DuckDB's message, plus the registered table names when it could not find a table."""
    message = str(error).strip()
    missing = re.search(r"Table with name (\S+?) does not exist", message)
    if not missing:
        return duckdb_error(error, "DuckDB query failed")
    message = message.split("\n")[0]  # drop DuckDB's own guess among its catalog tables
    wanted = missing.group(1).strip('"')
    close = difflib.get_close_matches(wanted, list(names), n=1)
    did_you_mean = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(_sql_name(name) for name in names) or "none (the step has no inputs)"
    return DriverError(f"DuckDB query failed: {message}", hint=f"{did_you_mean}tables: {listed}")


def _sql_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else quote_ident(name)
