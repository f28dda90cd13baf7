"""`osiris report ID` and `osiris report --index`: write a self-contained HTML report of a session,
or one page listing every session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["report_command"]


def report_command(args: argparse.Namespace) -> int:
    index = bool(getattr(args, "index", False))
    if index == (args.session_id is not None):
        return _error("give a session ID or --index (one of them)", 2)
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        return _error(f"--out {out} is a directory: give a file name, e.g. {out / _default_name(index)}", 2)
    if index:
        return _index(Path(args.session_dir), out, args)
    from osiris.runtime.report import ReportError, write_report
    from osiris.runtime.session import SessionError, find_session

    try:
        info = find_session(Path(args.session_dir), args.session_id)
    except SessionError as error:
        return _error(str(error), 2)
    try:
        target = write_report(info.path, out)
    except ReportError as error:
        return _error(f"cannot report session {info.id}: {error}", 1)
    except OSError as error:
        where = out or info.path / "artifacts" / "report.html"
        return _error(f"cannot write the report to {where}: {error.strerror or error}", 2)
    return _done({"session_id": info.id, "report": str(target)}, target, args)


def _index(root: Path, out: Path | None, args: argparse.Namespace) -> int:
    from osiris.runtime.report.index import write_index

    if root.exists() and not root.is_dir():
        return _error(f"--session-dir {root} is not a directory", 2)
    try:
        target = write_index(root, out)
    except OSError as error:
        return _error(f"cannot write the index to {out or root / 'index.html'}: {error.strerror or error}", 2)
    return _done({"index": str(target)}, target, args)


def _default_name(index: bool) -> str:
    return "index.html" if index else "report.html"


def _done(body: dict[str, str], target: Path, args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        import json

        print(json.dumps(body, indent=2))
        return 0
    print(f"wrote {target}")
    return 0


def _error(message: str, code: int) -> int:
    sys.stderr.write(f"osiris report: error: {message}\n")
    return code
