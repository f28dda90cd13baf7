"""`osiris report ID`: write a self-contained HTML report of a session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["report_command"]


def report_command(args: argparse.Namespace) -> int:
    from runtime.report import write_report
    from runtime.session import SessionError, find_session

    try:
        info = find_session(Path(args.session_dir), args.session_id)
    except SessionError as error:
        sys.stderr.write(f"osiris report: error: {error}\n")
        return 2
    target = write_report(info.path, Path(args.out) if args.out else None)
    print(f"wrote {target}")
    return 0
