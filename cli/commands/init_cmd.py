"""`osiris init`: a starter project in the current directory, never overwriting a file.

Writes osiris.yaml (the project settings; its directory is the project root), a
connections file whose secrets come from `${ENV}` variables, a `.env.example`
naming those variables, a demo pipeline and the small CSV it reads, so
`osiris run pipeline.yaml` works straight away without any server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["STARTER_FILES", "init_command"]

CONNECTIONS = """\
# Connections: pipelines refer to these as "@family.alias" (e.g. connection: "@mysql.shop").
# Never write a password here: use ${VAR} (or ${VAR:-default}) and set the variable in your
# environment (see .env.example). `osiris connections doctor` checks that each one answers.
version: 1
connections:
  filesystem:
    local:
      base_dir: .
      default: true
  # mysql:
  #   shop:
  #     host: ${MYSQL_HOST:-127.0.0.1}
  #     port: 3306
  #     database: shop
  #     user: ${MYSQL_USER:-reader}
  #     password: ${MYSQL_PASSWORD}
  #     default: true
  # postgres:
  #   warehouse:
  #     host: ${PG_HOST:-127.0.0.1}
  #     database: warehouse
  #     user: ${PG_USER:-postgres}
  #     password: ${PG_PASSWORD}
  #     default: true
"""

PROJECT = """\
# Project settings (docs/project.md). This directory is the project root: relative paths in
# pipelines, the connections file and the sessions directory resolve here, from wherever you
# run. Precedence: command line > environment (OSIRIS_*) > this file > defaults.
# `osiris validate` checks the setup and shows where each value came from.
version: 1
sessions_dir: .osiris/sessions          # OSIRIS_SESSIONS_DIR, --session-dir
connections: osiris_connections.yaml    # OSIRIS_CONNECTIONS, --connections
validation: warn                        # off | warn | strict (OSIRIS_VALIDATION)
# run:
#   step_memory: 512MiB                 # OSIRIS_STEP_MEMORY, osiris run --step-memory
#   batch_rows: 65536                   # OSIRIS_BATCH_ROWS, osiris run --batch-rows
# logs:
#   keep: 20                            # osiris logs gc keeps the newest 20 sessions
#   older_than_days: 30                 # ...and deletes those older than 30 days
# e2b:
#   timeout_s: 600                      # OSIRIS_E2B_TIMEOUT, --e2b-timeout
# chat:
#   base_url: http://localhost:11434/v1 # OSIRIS_LLM_BASE_URL (the key stays in the environment)
#   model: llama3.1                     # OSIRIS_LLM_MODEL
"""

ENV_EXAMPLE = """\
# Copy to .env, fill in, and load it before running (e.g. `set -a; . ./.env; set +a`).
# .env holds secrets: keep it out of version control.
MYSQL_HOST=127.0.0.1
MYSQL_USER=reader
MYSQL_PASSWORD=
PG_HOST=127.0.0.1
PG_USER=postgres
PG_PASSWORD=
"""

PIPELINE = """\
# A first pipeline: read a CSV, aggregate it with DuckDB, write Parquet and CSV.
#   osiris run pipeline.yaml
#   osiris run pipeline.yaml --param min_quantity=3
oml_version: "0.1.0"
name: demo
params:
  min_quantity:
    type: integer
    default: 1
    description: Ignore order lines with fewer items.
steps:
  - id: extract-sales
    component: filesystem.csv_extractor
    mode: read
    config:
      path: data/sales.csv
  - id: sales-by-region
    component: duckdb.processor
    mode: transform
    needs: [extract-sales]
    config:
      query: |
        SELECT region, count(*) AS lines, sum(quantity) AS items,
               round(sum(quantity * unit_price), 2) AS revenue
        FROM input_df
        WHERE quantity >= ${params.min_quantity}
        GROUP BY region
        ORDER BY revenue DESC
  - id: write-parquet
    component: filesystem.parquet_writer
    mode: write
    needs: [sales-by-region]
    config:
      path: out/sales_by_region.parquet
  - id: write-csv
    component: filesystem.csv_writer
    mode: write
    needs: [sales-by-region]
    config:
      path: out/sales_by_region.csv
"""


def _sales_csv() -> str:
    regions = ("north", "south", "east", "west")
    products = (("tea", 4.5), ("coffee", 7.25), ("cocoa", 5.0), ("mate", 6.1))
    lines = ["order_id,region,product,quantity,unit_price"]
    for index in range(1, 41):
        product, price = products[(index * 7) % len(products)]
        lines.append(f"{index},{regions[(index * 3) % len(regions)]},{product},{(index * 5) % 9 + 1},{price}")
    return "\n".join(lines) + "\n"


STARTER_FILES: dict[str, str] = {
    "osiris.yaml": PROJECT,
    "osiris_connections.yaml": CONNECTIONS,
    ".env.example": ENV_EXAMPLE,
    "pipeline.yaml": PIPELINE,
    "data/sales.csv": _sales_csv(),
}


def init_command(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if root.exists() and not root.is_dir():
        return _error(f"{root} is not a directory")
    todo = [relative for relative in STARTER_FILES if not (root / relative).exists()]
    kept = [relative for relative in STARTER_FILES if relative not in todo]
    for relative in todo:  # check every parent first, so a conflict stops init before any write
        for parent in reversed((root / relative).parents):
            if parent.exists() and not parent.is_dir():
                return _error(f"cannot create {root / relative}: {parent} exists and is not a directory")
    created: list[Path] = []
    made_dirs: list[Path] = []
    try:
        for relative in todo:
            path = root / relative
            for parent in reversed(path.parents):
                if not parent.exists():
                    parent.mkdir()
                    made_dirs.append(parent)
            try:
                with open(path, "x", encoding="utf-8") as handle:  # "x": never replace a file
                    created.append(path)
                    handle.write(STARTER_FILES[relative])
            except FileExistsError:
                kept.append(relative)
    except OSError as error:
        for path in created:  # all or nothing: take back what this run wrote
            path.unlink(missing_ok=True)
        for directory in reversed(made_dirs):
            try:
                directory.rmdir()
            except OSError:
                pass
        where = f"{error.filename}: " if error.filename and Path(error.filename) != root else ""
        return _error(f"cannot write the project into {root}: {where}{error.strerror or error}")
    if getattr(args, "json", False):
        import json

        print(json.dumps({"directory": str(root), "created": [p.relative_to(root).as_posix() for p in created],
                          "kept": kept}, indent=2))
        return 0
    for path in created:
        print(f"created  {path.relative_to(root).as_posix()}")
    for relative in kept:
        print(f"kept     {relative} (already exists)")
    where = "" if str(root) in (".", "") else f"cd {root} && "
    print(f"\nnext: {where}osiris run pipeline.yaml")
    return 0


def _error(message: str) -> int:
    sys.stderr.write(f"osiris init: error: {message}\n")
    return 2
