"""`osiris logs list|show ID|gc`: browse and clean up session directories.

Everything shown comes from files the runtime already masked when it wrote them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.commands.output import format_duration, render_summary

__all__ = ["logs_command"]


def logs_command(args: argparse.Namespace) -> int:
    from runtime.session import SessionError, find_session, gc_sessions, list_sessions

    root = Path(args.session_dir)
    if args.action == "list":
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
                    b["pipeline"] or "-",
                    b["started_at"] or "-",
                    format_duration(b["duration_ms"] or 0),
                    f"{b['rows_written']:,}",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print(
                "  ".join(
                    c.ljust(widths[i]) if i < 5 else c.rjust(widths[i]) for i, c in enumerate(r)
                ).rstrip()
            )
        return 0
    if args.action == "show":
        try:
            info = find_session(root, args.session_id)
        except SessionError as error:
            sys.stderr.write(f"osiris logs show: error: {error}\n")
            return 2
        events = _events(info.path)
        if args.json:
            body = {"session_dir": str(info.path), "status": info.status}
            if args.events:
                body["events"] = events
            print(json.dumps(body, indent=2, ensure_ascii=False))
            return 0
        if info.status:
            sys.stdout.write(render_summary(info.status, str(info.path)))
        else:
            print(_unfinished_line(info.id, events))
        if args.events:
            print("\nevents:")
            for event in events:
                print("  " + _event_line(event))
        return 0
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


def unfinished_state(events: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """For a session without status.json: ("running" | "killed", steps started but not ended).

    status.json is written when a run ends; a run killed with SIGKILL (or a crashed machine)
    never writes it, so its events say how far it got and its pid whether it is still alive.
    """
    import os

    started = [e for e in events if e.get("event") == "run_start"]
    ended = {e.get("step_id") for e in events if e.get("event") in
             ("step_complete", "step_error", "step_skipped", "step_cancelled")}
    open_steps = sorted({e["step_id"] for e in events if e.get("event") == "step_start"} - ended)
    pid = started[-1].get("pid") if started else None
    alive = False
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
    return ("running" if alive else "killed"), open_steps


def _unfinished_line(session_id: str, events: list[dict[str, Any]]) -> str:
    state, open_steps = unfinished_state(events)
    steps = f"; steps in progress: {', '.join(open_steps)}" if open_steps else ""
    if state == "running":
        return f"{session_id}: still running{steps}"
    return (f"{session_id}: killed (the process ended without finishing the run{steps}); "
            "writers commit all or nothing, so targets were left as they were")


def _brief(info: Any) -> dict[str, Any]:
    status = info.status
    if not status:
        state, _ = unfinished_state(_events(info.path))
        status = {"status": state}
    return {
        "session_id": info.id,
        "status": status.get("status", "unknown"),
        "ok": status.get("ok"),
        "pipeline": status.get("pipeline"),
        "started_at": status.get("started_at"),
        "duration_ms": status.get("duration_ms"),
        "rows_written": (status.get("totals") or {}).get("rows_written", 0),
    }


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    try:
        with open(path / "events.jsonl", encoding="utf-8") as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return events


def _event_line(event: dict[str, Any]) -> str:
    skip = {"seq", "ts", "session_id", "event", "step_id"}
    rest = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in event.items() if k not in skip)
    step = f" [{event['step_id']}]" if "step_id" in event else ""
    return f"{event.get('ts', '')} {event.get('event')}{step} {rest}".rstrip()
