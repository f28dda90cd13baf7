"""`osiris discover @family.alias|PATH|URI`: the tables and columns of a connection, a path, or
an object-store prefix (`s3://bucket/lake/ --via @s3.prod`).

The original Osiris's standalone discovery, through the same service and cache as `osiris chat`
(runtime/discovery_service.py): within the cache's TTL and while the schema's fingerprint is
unchanged the answer comes from the cache; `--refresh` asks the server again. `--sample N`
reads up to N rows per table (at most 10). Secrets never reach the output: every line and the
JSON are masked with the connection's secrets and the environment's.

Exit codes (cli/exits.py): 0 found, 1 discovery failed (unknown alias, server away, path
refused), 2 usage error or a missing driver extra (named, with the pip command).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from osiris.cli.exits import ExitCode

__all__ = ["add_discover_parser", "discover_command"]


def add_discover_parser(sub: Any) -> None:
    """Register `osiris discover` on the `osiris` subparsers (argparse only: cheap at start-up)."""
    discover = sub.add_parser(
        "discover",
        help="list the tables and columns of a connection or a file path (cached)",
        description="Show what a connection (@family.alias) or a CSV/Parquet path holds: tables, "
        "columns, types, keys, row counts; sample rows with --sample.",
    )
    discover.add_argument("target", metavar="TARGET",
                          help="@family.alias, a CSV/Parquet file or directory, or s3:// gs:// az:// URI")
    discover.add_argument("--via", metavar="@FAMILY.ALIAS",
                          help="the @s3/@gcs/@azure alias to read an object-store URI with (default: the family's "
                          "default alias)")
    discover.add_argument("--tables", metavar="T1,T2", help="only these tables (comma-separated)")
    discover.add_argument("--sample", type=int, default=0, metavar="N", help="read up to N rows per table (max 10)")
    discover.add_argument("--refresh", action="store_true", help="ask the server again, bypassing the cache")
    discover.add_argument("--ttl", type=float, default=None, metavar="S",
                          help="seconds a cached answer stays usable (default 3600)")
    discover.add_argument("--connections", metavar="FILE", help="connections file (default: from the settings)")
    discover.add_argument("--json", action="store_true", help="print the result as JSON")


def discover_command(args: argparse.Namespace) -> int:
    from osiris.runtime.discovery_cache import DEFAULT_TTL_S
    from osiris.runtime.secrets import SecretMasker

    if args.sample < 0 or (args.ttl is not None and not args.ttl >= 0):
        return _usage("--sample and --ttl take numbers >= 0")
    from osiris.compiler.connections import split_ref

    from osiris.compiler.path_policy import STORE_SCHEMES

    store = STORE_SCHEMES.get(args.target.split("://", 1)[0]) if "://" in args.target else None
    parsed = split_ref(args.target) if args.target.startswith("@") else ("filesystem", "")
    if args.via is not None and (store is None or split_ref(args.via) is None):
        return _usage("--via takes @family.alias and applies to s3://, gs:// and az:// targets")
    if parsed is None:
        return _usage(f"invalid connection reference {args.target!r}", "write it as @family.alias, e.g. @mysql.main")
    from osiris.cli.extras import require_extra
    from osiris.runtime.extras import DRIVER_EXTRAS

    family = parsed[0]
    if family in DRIVER_EXTRAS:
        require_extra(DRIVER_EXTRAS[family])  # a missing extra is named, exit 2 (cli/guard.py)
    masker = SecretMasker()
    masker.add_environment(os.environ)
    loaded = discovery_service(args.connections, masker, DEFAULT_TTL_S if args.ttl is None else args.ttl)
    if isinstance(loaded, int):
        return loaded
    service = loaded
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    from osiris.runtime.driver import DriverError

    try:
        result = service.discover(args.target, tables=tables, sample_rows=args.sample, refresh=args.refresh,
                                  via=args.via)
    except DriverError as error:
        sys.stderr.write(masker.mask(f"osiris discover: error: {error}\n"))
        if error.hint:
            sys.stderr.write(masker.mask(f"  hint: {error.hint}\n"))
        return ExitCode.FAILED
    cached = service.hits > 0
    if args.json:
        from osiris.runtime.discovery import result_to_json

        document = {**result_to_json(result), "cached": cached}
        print(masker.mask(json.dumps(masker.mask_data(document), indent=2, ensure_ascii=False, default=str)))
        return ExitCode.OK
    for line in _text(result, cached):
        print(masker.mask(line))
    return ExitCode.OK


def discovery_service(connections: str | None, masker: Any, ttl_s: float, start: Path | None = None) -> Any:
    """The discovery service for the project of `start` (default the current directory): the
    settings' connections file unless `connections` names one, the project root; or an exit
    code after printing why (`osiris discover`, the MCP tool `discover`)."""
    from osiris.cli.project import load_project
    from osiris.cli.settings import SettingsError
    from osiris.compiler.path_policy import path_roots
    from osiris.runtime.connections import ConnectionsUnavailable, load_connections_file
    from osiris.runtime.discovery_service import DiscoveryService

    try:
        project = load_project(start, cli={"connections": connections})
    except SettingsError as error:
        sys.stderr.write("".join(problem.render() for problem in error.problems))
        return _usage("the project settings are invalid (see above)", "osiris validate shows them all")
    connections_path: Path | None = project.path("connections")
    if project.resolved.sources["connections"] == "default" and not connections_path.exists():
        connections_path = None  # no file is fine: paths can still be discovered
    try:
        connections = load_connections_file(connections_path, project.root)
    except ConnectionsUnavailable as error:
        details = "; ".join(f"line {d.span.line}: {d.message}" for d in error.diagnostics[:3])
        sys.stderr.write(masker.mask(f"osiris discover: error: {error}" + (f" ({details})" if details else "") + "\n"))
        return ExitCode.FAILED if error.diagnostics else ExitCode.USAGE
    granted = getattr(connections, "roots", ()) if connections is not None else ()
    return DiscoveryService(connections, cwd=start or Path.cwd(), env=dict(os.environ), ttl_s=ttl_s,
                            roots=path_roots(project.root, granted), masker=masker)


def _text(result: Any, cached: bool) -> list[str]:
    from osiris.cli.commands.output import format_table

    where = "from the cache (--refresh asks again)" if cached else "discovered now"
    lines = [f"{result.source}: {len(result.tables)} table(s), {where}"]
    for table in result.tables:
        name = f"{table.schema}.{table.name}" if table.schema else table.name
        rows = f", {table.row_count} rows" if table.row_count is not None else ""
        lines.append(f"\n{name} ({len(table.columns)} columns{rows})")
        cells = [[c.name, c.type, f"-> {c.arrow_type}" if c.arrow_type and c.arrow_type != c.type else "",
                  "key" if c.primary_key else "", "null" if c.nullable else "not null"] for c in table.columns]
        lines += format_table(cells, indent="  ")
        if table.sample:
            lines.append("  sample:")
            lines += [f"    {json.dumps(row, ensure_ascii=False, default=str)}" for row in table.sample]
    return lines


def _usage(message: str, hint: str | None = None) -> int:
    sys.stderr.write(f"osiris discover: error: {message}\n" + (f"  hint: {hint}\n" if hint else ""))
    return ExitCode.USAGE
