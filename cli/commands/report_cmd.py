"""`osiris report ID`: write a self-contained HTML report of a session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["report_command"]


def report_command(args: argparse.Namespace) -> int:
    from osiris.runtime.report import ReportError, write_report
    from osiris.runtime.session import SessionError, find_session

    try:
        info = find_session(Path(args.session_dir), args.session_id)
    except SessionError as error:
        return _error(str(error), 2)
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        return _error(f"--out {out} is a directory: give a file name, e.g. {out / 'report.html'}", 2)
    try:
        target = write_report(info.path, out)
    except ReportError as error:
        return _error(f"cannot report session {info.id}: {error}", 1)
    except OSError as error:
        where = out or info.path / "artifacts" / "report.html"
        return _error(f"cannot write the report to {where}: {error.strerror or error}", 2)
    if getattr(args, "json", False):
        import json

        print(json.dumps({"session_id": info.id, "report": str(target)}, indent=2))
        return 0
    print(f"wrote {target}")
    return 0


def _error(message: str, code: int) -> int:
    sys.stderr.write(f"osiris report: error: {message}\n")
    return code
