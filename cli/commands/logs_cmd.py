"""`osiris logs list|show ID|gc|bundle ID`: browse, clean up and share session directories.

Everything shown comes from files the runtime already masked when it wrote them. The status
shown is `runtime.status.session_view`'s: a run whose status.json still says "running" is
"running" only while its process lives, "killed" otherwise; a status.json of the wrong shape
is reported as damaged, not rendered.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from osiris.cli.commands.output import format_duration, format_table, render_summary
from osiris.runtime.status import unfinished_state

__all__ = ["logs_command", "unfinished_state"]


def logs_command(args: argparse.Namespace) -> int:
    root = Path(args.session_dir)
    if root.exists() and not root.is_dir():  # not "no sessions" and exit 0: the option is wrong
        sys.stderr.write(f"osiris logs {args.action}: error: --session-dir {args.session_dir} is not a directory\n")
        return 2
    if args.action == "list":
        return _list(root, args)
    if args.action == "show":
        return _show(root, args)
    if args.action == "bundle":
        from osiris.cli.commands.bundle_cmd import bundle_command

        return bundle_command(root, args)
    return _gc(root, args)


def _list(root: Path, args: argparse.Namespace) -> int:
    from osiris.runtime.session import list_sessions

    sessions = list_sessions(root)[: args.limit]
    if args.json:
        print(json.dumps([_brief(info) for info in sessions], indent=2, ensure_ascii=False))
        return 0
    if not sessions:
        print(f"no sessions in {root}")
        return 0
    rows = [["SESSION", "STATUS", "PIPELINE", "STARTED", "DURATION", "ROWS WRITTEN"]]
    for info in sessions:
        b = _brief(info)
        rows.append(
            [
                b["session_id"],
                b["status"],
                str(b["pipeline"] or "-"),
                str(b["started_at"] or "-"),
                format_duration(b["duration_ms"]) if isinstance(b["duration_ms"], int) else "-",
                f"{b['rows_written']:,}",
            ]
        )
    print("\n".join(format_table(rows, right={5})))
    return 0


def _show(root: Path, args: argparse.Namespace) -> int:
    from osiris.runtime.report import partition_rows, read_jsonl
    from osiris.runtime.session import SessionError, find_session

    try:
        info = find_session(root, args.session_id)
    except SessionError as error:
        sys.stderr.write(f"osiris logs show: error: {error}\n")
        return 2
    events = read_jsonl(info.path / "events.jsonl")
    view = _view(info, events)
    damaged = view.get("damaged")
    if args.json:
        body: dict[str, Any] = {
            "session_dir": str(info.path),
            "state": view["state"],
            "status": {} if damaged else info.status,
        }
        if damaged:
            body["damaged"] = damaged
        if view["unfinished_steps"]:
            body["unfinished_steps"] = view["unfinished_steps"]
        if partitions := partition_rows(events):
            body["partitions"] = partitions
        if args.events:
            body["events"] = events
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 1 if damaged else 0
    if damaged:
        state, open_steps = unfinished_state(events)
        ended = [e for e in events if e.get("event") == "run_end"]
        if ended:
            known = f"its events say the run ended: {ended[-1].get('status', 'unknown')}"
        else:
            known = f"its events say: {_unfinished_text(state, open_steps)}"
        print(f"{info.id}: status.json is damaged; {known}")
        sys.stderr.write(
            f"osiris logs show: error: session {info.id}: {damaged}"
            f" (see the events: osiris logs show {info.id} --events)\n"
        )
    elif info.status:
        sys.stdout.write(render_summary(view, str(info.path)))
    else:
        print(f"{info.id}: {_unfinished_text(*unfinished_state(events))}")
    _print_partitions(partition_rows(events))
    if args.events:
        print("\nevents:")
        for event in events:
            print("  " + _event_line(event))
    return 1 if damaged else 0


def _gc(root: Path, args: argparse.Namespace) -> int:
    from osiris.runtime.session import gc_sessions

    if args.keep is None and args.older_than is None:
        sys.stderr.write("osiris logs gc: error: give --keep N and/or --older-than DAYS\n")
        return 2
    removed = gc_sessions(root, keep=args.keep, older_than_days=args.older_than, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"removed": [i.id for i in removed], "dry_run": args.dry_run}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for info in removed:
        print(f"{verb} {info.id}")
    print(f"{verb} {len(removed)} session{'s' if len(removed) != 1 else ''}")
    return 0


def _unfinished_text(state: str, open_steps: list[str]) -> str:
    steps = f"; steps in progress: {', '.join(open_steps)}" if open_steps else ""
    if state == "running":
        return f"still running{steps}"
    return (f"killed (the process ended without finishing the run{steps}); "
            "writers commit all or nothing, so targets were left as they were")


def _print_partitions(partitions: list[dict[str, Any]]) -> None:
    """Per step of a distributed run: its partitions, rows and the partitions whose worker was lost."""
    if not partitions:
        return
    print("\npartitions:")
    steps: dict[str, list[dict[str, Any]]] = {}
    for row in partitions:
        steps.setdefault(str(row["step_id"]), []).append(row)
    for step_id, rows in steps.items():
        retried = [str(r["partition"]) for r in rows if r["lost_workers"]]
        note = f", re-run after a lost worker: {', '.join(retried)}" if retried else ""
        counts = " ".join(f"{r['partition']}:{r['rows']:,}" for r in rows)
        print(f"  {step_id}: {len(rows)} partition(s), rows {counts}{note}")


def _view(info: Any, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    from osiris.runtime.report import read_jsonl
    from osiris.runtime.status import session_view

    return session_view(info.path, info.status, events if events is not None else
                        lambda: read_jsonl(info.path / "events.jsonl"))


def _brief(info: Any) -> dict[str, Any]:
    view = _view(info)
    totals = view.get("totals") or {}
    return {
        "session_id": info.id,
        "status": view["state"],
        "ok": view.get("ok"),
        "pipeline": view.get("pipeline"),
        "started_at": view.get("started_at"),
        "duration_ms": view.get("duration_ms"),
        "rows_written": totals.get("rows_written", 0),
    }


def _event_line(event: dict[str, Any]) -> str:
    from osiris.runtime.events import HEADER_FIELDS

    rest = " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in event.items() if k not in HEADER_FIELDS
    )
    step = f" [{event['step_id']}]" if "step_id" in event else ""
    return f"{event.get('ts', '')} {event.get('event')}{step} {rest}".rstrip()
