"""`python -m tests.security.duckdb_unchecked_cli ARGS...`: the real `osiris` CLI with the
compile-time DuckDB check (OML082) switched off.

A manifest verified by a runtime that lacks the check, or a check with a gap, must still not
let DuckDB SQL out of its sandbox: this harness takes the check away so that the attack tests
in test_duckdb_sandbox.py reach DuckDB itself, in a process of its own, with the runtime's own
events, status and log files.
"""

from __future__ import annotations

import sys

import osiris.compiler.checks.duckdb_access as duckdb_access


def main(argv: list[str]) -> int:
    duckdb_access.may_reach_outside = lambda sql: False  # duckdb_access_problems now finds nothing
    from osiris.cli.osiris import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
