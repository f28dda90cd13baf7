"""Which rows a `duckdb.processor` query needs together: the scope the Ray backend may run it at.

- `local`: row by row, so each partition of its one input separately;
- `hash`: rows that meet share a key, so each bucket after a hash exchange on that key;
- `single`: one task with all rows (always correct).

The classification is conservative: whatever this module cannot prove (an unknown function, a CTE,
an unqualified column among several tables, a parse failure) is `single`, with the reason. A wrong
`local`/`hash` would silently produce wrong results; a wrong `single` only costs parallelism.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Scope", "classify"]

ScopeKind = Literal["local", "hash", "single"]


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """hash: SQL input name -> its key columns (same length and order for every input)."""
    reason: str = ""
    """One line for events and docs: "GROUP BY country", "ORDER BY needs all rows"."""


class _Single(Exception):
    """Raised inside the analysis: the query needs all rows, for this reason."""


def classify(sql: str, inputs: Sequence[str], *, override: str | None = None, by: Sequence[str] | None = None) -> Scope:
    """The scope of `sql` over the named inputs; the step's `partitions` block wins. Never raises."""
    try:
        if override == "local":
            return Scope("local", {}, "scope local set by the step")
        if override == "single":
            return Scope("single", {}, "scope single set by the step")
        if override == "hash" and by:
            columns = tuple(str(c) for c in by)
            return Scope("hash", {name: columns for name in inputs}, f"hash on {', '.join(columns)} set by the step")
        found = _analyse(sql, list(inputs))
        if override == "hash" and found.kind != "hash":
            return Scope("single", {}, f"scope hash set by the step needs `by` ({found.reason})")
        return found
    except Exception as error:  # noqa: BLE001 - a classifier bug must cost parallelism, not the run
        return Scope("single", {}, f"not classified: {type(error).__name__}")


def _analyse(sql: str, inputs: list[str]) -> Scope:
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except Exception:  # noqa: BLE001 - sqlglot raises several error types
        return Scope("single", {}, "the query could not be parsed")
    if len(statements) != 1:
        return Scope("single", {}, "not a single statement")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        if isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
            return Scope("single", {}, "set operations need all rows")
        return Scope("single", {}, f"not a SELECT ({tree.key})")
    try:
        return _select_scope(tree, inputs)
    except _Single as why:
        return Scope("single", {}, str(why))


_NONDETERMINISTIC = {
    "random",
    "rand",
    "setseed",
    "nextval",
    "currval",
    "uuid",
    "gen_random_uuid",
    "uuidv4",
    "uuidv7",
    "now",
    "current_timestamp",
    "get_current_timestamp",
    "transaction_timestamp",
}


def _clock_nodes(exp: Any) -> tuple[type, ...]:
    """sqlglot's node types for DuckDB's local clock (`localtimestamp`, `localtime`); each task
    would read its own time. Looked up by name: not every sqlglot release has all of them."""
    return tuple(getattr(exp, name) for name in ("Localtimestamp", "Localtime", "CurrentDatetime")
                 if isinstance(getattr(exp, name, None), type))


def _select_scope(select: Any, inputs: list[str]) -> Scope:
    from sqlglot import exp

    if select.args.get("order"):
        raise _Single("ORDER BY needs all rows")
    if select.args.get("with") or select.args.get("with_"):
        raise _Single("WITH (CTEs) are not analysed")
    if select.args.get("limit") or select.args.get("offset"):
        raise _Single("LIMIT/OFFSET needs all rows")
    if select.args.get("qualify"):
        raise _Single("QUALIFY is not analysed")
    for node in select.walk():
        if node is not select and isinstance(node, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
            raise _Single("subqueries are not analysed")
        if isinstance(node, exp.TableSample):
            raise _Single("SAMPLE needs all rows")
        if (
            isinstance(node, (exp.Rand, exp.Uuid))
            or (isinstance(node, exp.Func) and node.sql_name().lower() in _NONDETERMINISTIC)
            or isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime,
                                 *_clock_nodes(exp)))
        ):
            raise _Single(f"{node.sql_name().lower()}() differs between tasks")
        if isinstance(node, exp.Anonymous):
            _check_known_scalar(str(node.name))
        if isinstance(node, (exp.Unnest, exp.Explode, exp.Lateral, exp.Pivot)):
            raise _Single(f"{node.key.upper()} is not analysed")
    aliases = _tables(select, inputs)
    aggregates = any(isinstance(n, exp.AggFunc) and n.find_ancestor(exp.Window) is None for n in select.walk())
    windows = list(select.find_all(exp.Window))
    group = select.args.get("group")
    distinct = select.args.get("distinct")
    joins = select.args.get("joins") or []
    if len(aliases) == 1 and not (aggregates or windows or group or distinct or select.args.get("having")):
        return Scope("local", {}, "row by row")
    return _hash_scope(select, aliases, joins, group, distinct, windows, aggregates)


def _check_known_scalar(name: str) -> None:
    """A function sqlglot does not model: DuckDB's catalog says whether it is a plain scalar."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT function_type, stability FROM duckdb_functions() WHERE lower(function_name) = lower(?)",
            [name],
        ).fetchall()
    finally:
        con.close()
    if not rows:
        raise _Single(f"unknown function {name}()")
    for function_type, stability in rows:
        if function_type != "scalar" and function_type != "macro":
            raise _Single(f"{name}() is a{'n' if function_type[0] in 'aeiou' else ''} {function_type} function")
        if stability not in ("CONSISTENT", "CONSISTENT_WITHIN_QUERY") or stability == "CONSISTENT_WITHIN_QUERY":
            raise _Single(f"{name}() differs between tasks")


def _tables(select: Any, inputs: list[str]) -> dict[str, str]:
    """Alias (lower case) -> input name, for every table the query reads; anything else: single."""
    from sqlglot import exp

    by_lower = {name.lower(): name for name in inputs}
    aliases: dict[str, str] = {}
    sources = [(select.args.get("from") or select.args.get("from_"))] + [j for j in select.args.get("joins") or []]
    for source in sources:
        if source is None:
            raise _Single("no input table")
        table = source.this
        if not isinstance(table, exp.Table) or table.args.get("db") or not isinstance(table.this, exp.Identifier):
            raise _Single(f"reads {table.sql(dialect='duckdb')}, not an input")
        name = table.name.lower()
        if name not in by_lower:
            raise _Single(f"reads {table.name}, not an input")
        table_alias = table.args.get("alias")
        if table_alias is not None and table_alias.args.get("columns"):
            raise _Single(f"{table.name} renames its columns ({table_alias.sql(dialect='duckdb')})")
        alias = (table.alias or table.name).lower()
        if alias in aliases:
            raise _Single(f"{alias} is read twice under one name")
        aliases[alias] = by_lower[name]
    return aliases


def _plain_star(expression: Any) -> bool:
    """`*` or `t.*` that keeps every column as it is: `* EXCLUDE (k)` or `* REPLACE (...)` may
    drop or rewrite the key, so it does not count as holding it."""
    from sqlglot import exp

    star = expression.this if isinstance(expression, exp.Column) else expression
    if not isinstance(star, exp.Star):
        return False
    return not any(star.args.get(arg) for arg in ("except", "except_", "replace", "rename"))


def _hash_scope(
    select: Any,
    aliases: dict[str, str],
    joins: list[Any],
    group: Any,
    distinct: Any,
    windows: list[Any],
    aggregates: bool,
) -> Scope:
    """A key column per table such that every join equates it and every group/partition/DISTINCT holds it."""
    from sqlglot import exp

    order = list(aliases)

    def resolve(node: Any) -> tuple[str, str] | None:
        if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
            return None
        table = node.table.lower()
        if table:
            return (table, node.name) if table in aliases and not node.args.get("db") else None
        return (order[0], node.name) if len(order) == 1 else None

    nullable: set[str] = set()
    pairs: list[list[tuple[tuple[str, str], tuple[str, str]]]] = []
    for i, join in enumerate(joins):
        right, left = order[i + 1], order[: i + 1]
        kind, side = (join.kind or "").upper(), (join.side or "").upper()
        if kind not in ("", "INNER", "OUTER", "SEMI", "ANTI") or join.args.get("method"):
            raise _Single(f"{join.sql(dialect='duckdb').split(' ON ')[0].strip()} is not analysed")
        if side == "LEFT":
            nullable.add(right)
        elif side == "RIGHT":
            nullable.update(left)
        elif side == "FULL":
            nullable.update(left + [right])
        found: list[tuple[tuple[str, str], tuple[str, str]]] = []
        on = join.args.get("on")
        for cond in on.flatten() if isinstance(on, exp.And) else [on] if on is not None else []:
            if isinstance(cond, exp.EQ):
                a, b = resolve(cond.this), resolve(cond.expression)
                if a and b and b[0] == right and a[0] in left:
                    found.append((a, b))
                elif a and b and a[0] == right and b[0] in left:
                    found.append((b, a))
        for ident in join.args.get("using") or []:
            if len(left) == 1:
                found.append(((left[0], ident.name), (right, ident.name)))
        if not found:
            raise _Single(f"JOIN {aliases[right]} has no column equality with the tables before it")
        pairs.append(found)

    if group and any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets", "all")):
        raise _Single("ROLLUP/CUBE/GROUPING SETS/GROUP BY ALL need all rows")
    if (aggregates or select.args.get("having")) and not group:
        raise _Single("an aggregate without GROUP BY needs all rows")
    if distinct is not None and distinct.args.get("on"):
        raise _Single("DISTINCT ON is not analysed")
    renamed = {e.alias for e in select.expressions if isinstance(e, exp.Alias) and e.alias != e.this.sql()}
    group_cols = [
        None if isinstance(e, exp.Column) and e.name in renamed else resolve(e)
        for e in (group.expressions if group else [])
    ]
    window_cols = []
    for window in windows:
        partition = window.args.get("partition_by") or []
        if not partition:
            raise _Single("a window without PARTITION BY needs all rows")
        window_cols.append([resolve(e) for e in partition])
    star = any(_plain_star(e) for e in select.expressions)
    outputs = [resolve(e.this if isinstance(e, exp.Alias) else e) for e in select.expressions]

    candidates = group_cols + [p for f in pairs for pr in f for p in pr] + [c for w in window_cols for c in w]
    first_columns = list(dict.fromkeys(c for c in candidates + outputs if c and c[0] == order[0]))  # first named
    tried: list[str] = []
    for _, column in first_columns:
        assign = {order[0]: column}
        for i, found in enumerate(pairs):
            match = next((b for a, b in found if assign.get(a[0]) == a[1]), None)
            if match is None:
                break
            assign[order[i + 1]] = match[1]
        else:
            reason = _check_key(assign, aliases, nullable, group_cols, window_cols, outputs if distinct else None, star)
            if reason:
                keys: dict[str, tuple[str, ...]] = {}
                for alias, col in assign.items():
                    if keys.setdefault(aliases[alias], (col,)) != (col,):
                        break
                else:
                    return Scope("hash", keys, reason)
        tried.append(column)
    what = "GROUP BY" if group else "window" if windows else "DISTINCT" if distinct else "JOIN"
    raise _Single(f"no key column shared by every table and the {what}")


def _check_key(
    assign: dict[str, str],
    aliases: dict[str, str],
    nullable: set[str],
    group_cols: list[Any],
    window_cols: list[list[Any]],
    outputs: list[Any] | None,
    star: bool,
) -> str:
    """The reason a key works, or '' when a group, partition or DISTINCT could span buckets."""

    def holds(cols: list[Any]) -> bool:
        return any(c and c[0] not in nullable and assign.get(c[0]) == c[1] for c in cols)

    if group_cols and not holds(group_cols):
        return ""
    if any(not holds(cols) for cols in window_cols):
        return ""
    if outputs is not None and not (holds(outputs) or (star and not nullable)):
        return ""
    key = next(iter(assign.values()))
    if group_cols:
        return f"GROUP BY {key}"
    if window_cols:
        return f"window PARTITION BY {key}"
    if outputs is not None:
        return f"DISTINCT on {key}"
    return f"JOIN on {key}"
