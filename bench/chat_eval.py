"""Evaluate `osiris chat` on natural-language intents with known answers.

    python bench/chat_eval.py --base-url http://localhost:11434/v1 --model qwen2.5-coder:7b
    python bench/chat_eval.py --base-url https://api.openai.com/v1 --model gpt-4o-mini   # OPENAI_API_KEY

Each intent runs the real chat in one-shot mode (discovery, synthesis, compiler check, repair,
write, run) in a scratch work directory holding the shipped demo data
(examples/quickstart/data/) and a connections file for a seeded MariaDB database (table
`customers`, loaded from the demo CSV). The output the pipeline wrote is compared with the
expected rows, computed independently by DuckDB over the same files. Per intent it reports:
compiled (passed `omlc check`), ran, rows as expected, repair rounds, tokens (prompt +
completion, as the endpoint reported them or estimated), seconds. MariaDB intents are skipped
when the server does not answer. CI runs this against the replay server (tests/llm/test_bench.py).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO_DATA = REPO / "examples" / "quickstart" / "data"


@dataclass(frozen=True)
class Intent:
    id: str
    text: str
    output: str
    expected_sql: str
    """DuckDB SQL over the demo files (run in the work directory) giving the expected rows."""
    ordered: bool = False
    needs_mysql: bool = False


INTENTS: tuple[Intent, ...] = (
    Intent(
        "copy-orders",
        "Copy data/orders.csv to out/copy-orders.parquet unchanged.",
        "out/copy-orders.parquet",
        "SELECT * FROM read_csv_auto('data/orders.csv')",
    ),
    Intent(
        "paid-orders",
        "From data/orders.csv keep only orders with status 'paid' and write their order_id "
        "and amount columns to out/paid-orders.csv.",
        "out/paid-orders.csv",
        "SELECT order_id, amount FROM read_csv_auto('data/orders.csv') WHERE status = 'paid'",
    ),
    Intent(
        "revenue-by-country",
        "Join data/orders.csv (customer_id) with data/customers.parquet (id) and write "
        "the total amount per customer country as columns country and revenue (rounded to 2 decimals) to "
        "out/revenue-by-country.parquet.",
        "out/revenue-by-country.parquet",
        "SELECT c.country, round(sum(o.amount), 2) AS revenue FROM read_csv_auto('data/orders.csv') o "
        "JOIN 'data/customers.parquet' c ON c.id = o.customer_id GROUP BY c.country",
    ),
    Intent(
        "top-products",
        "Write the 5 most expensive products from data/products.parquet (columns sku, name, "
        "price; most expensive first) to out/top-products.csv.",
        "out/top-products.csv",
        "SELECT sku, name, price FROM 'data/products.parquet' ORDER BY price DESC LIMIT 5",
        ordered=True,
    ),
    Intent(
        "mysql-german-customers",
        "Copy the customers whose country is 'DE' from the MySQL table customers "
        "(columns id and name) to out/mysql-german-customers.parquet.",
        "out/mysql-german-customers.parquet",
        "SELECT id, name FROM 'data/customers.parquet' WHERE country = 'DE'",
        needs_mysql=True,
    ),
)


@dataclass
class Outcome:
    id: str
    compiled: bool = False
    ran: bool = False
    rows_ok: bool = False
    repair_rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    seconds: float = 0.0
    note: str = ""


# -- the seeded database --
def seed_mysql(args: argparse.Namespace) -> str | None:
    """Create `customers` in the eval database from the demo CSV; None when MariaDB is absent."""
    try:
        import pymysql

        conn = pymysql.connect(
            host=args.mysql_host,
            port=args.mysql_port,
            user=args.mysql_user,
            password=os.environ.get("OSIRIS_EVAL_MYSQL_PASSWORD", ""),
            connect_timeout=3,
            autocommit=True,
            charset="utf8mb4",
        )
    except Exception as error:  # noqa: BLE001 - any failure means: skip the database intents
        return f"MariaDB at {args.mysql_host}:{args.mysql_port} is not reachable ({type(error).__name__})"
    import pyarrow.csv as pacsv

    rows = pacsv.read_csv(DEMO_DATA / "customers.csv").to_pylist()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{args.mysql_database}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{args.mysql_database}`")
        cur.execute("DROP TABLE IF EXISTS customers")
        cur.execute(
            "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100), "
            "country CHAR(2), city VARCHAR(100), signup_date DATE)"
        )
        cur.executemany(
            "INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)",
            [(r["id"], r["name"], r["email"], r["country"], r["city"], r["signup_date"]) for r in rows],
        )
    conn.close()
    return None


def prepare_work(work: Path, args: argparse.Namespace) -> None:
    if (work / "data").exists():
        shutil.rmtree(work / "data")
    shutil.copytree(DEMO_DATA, work / "data")
    (work / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    eval:\n"
        f"      host: {args.mysql_host}\n      port: {args.mysql_port}\n"
        f"      database: {args.mysql_database}\n      user: {args.mysql_user}\n"
        "      password: ${OSIRIS_EVAL_MYSQL_PASSWORD:-}\n      default: true\n",
        encoding="utf-8",
    )


# -- comparing rows --
def _norm(value: Any) -> Any:
    if isinstance(value, Decimal | float):
        return None if isinstance(value, float) and math.isnan(value) else round(float(value), 2)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):  # readers disagree on "" vs NULL for a quoted empty CSV field
        return value.strip() or None
    return value


def _rows(table: Any) -> tuple[list[str], list[tuple]]:
    names = [n.lower() for n in table.column_names]
    return names, [tuple(_norm(v) for v in row.values()) for row in table.to_pylist()]


def read_output(path: Path) -> Any:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    return pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)


def expected_rows(work: Path, intent: Intent) -> Any:
    import duckdb

    conn = duckdb.connect()
    try:
        return conn.sql(intent.expected_sql.replace("'data/", f"'{work}/data/")).to_arrow_table()
    finally:
        conn.close()


def compare(work: Path, intent: Intent) -> tuple[bool, str]:
    path = work / intent.output
    if not path.is_file():
        return False, f"{intent.output} was not written"
    got_names, got = _rows(read_output(path))
    want_names, want = _rows(expected_rows(work, intent))
    if got_names != want_names:
        return False, f"columns {got_names} != expected {want_names}"
    if not intent.ordered:
        got, want = sorted(got, key=repr), sorted(want, key=repr)
    if got != want:
        return False, f"{len(got)} rows, expected {len(want)}" + (
            "" if len(got) != len(want) else " (values differ)"
        )
    return True, f"{len(got)} rows"


# -- one intent through the real chat --
def run_intent(intent: Intent, work: Path, settings: Any, args: argparse.Namespace) -> Outcome:
    from rich.console import Console

    from osiris.cli.chat import make_guard
    from osiris.compiler.spec_cache import default_registry
    from osiris.llm.chat import ChatOptions, Conversation
    from osiris.llm.client import ChatClient
    from osiris.llm.session import ChatSession
    from osiris.llm.templates import Templates
    from osiris.llm.ui import ConsoleUI
    from osiris.runtime.connections import load_connections_file
    from osiris.runtime.discovery_service import DiscoveryService

    outcome = Outcome(intent.id)
    output = work / intent.output
    output.unlink(missing_ok=True)
    env = dict(os.environ)
    connections = load_connections_file(work / "osiris_connections.yaml", work)
    console = Console(file=sys.stderr if args.verbose else io.StringIO(), width=120)
    ui = ConsoleUI(interactive=False, console=console, stdout=console.file)
    options = ChatOptions(
        message=intent.text,
        yes=True,
        out=Path("pipelines") / f"{intent.id}.yaml",
        run=True,
        connections=work / "osiris_connections.yaml",
        samples=0,
        max_repairs=args.max_repairs,
        tools=args.tools,
        cwd=work,
        env=env,
        run_session_root=work / ".osiris" / "sessions",
    )
    session = ChatSession.create(work / ".osiris" / "chat")
    client = ChatClient(settings, on_retry=ui.note)
    started = time.monotonic()
    try:
        Conversation(
            session,
            options,
            client,
            ui,
            templates=Templates.load(args.prompts),
            registry=default_registry(),
            connections=connections,
            discovery=DiscoveryService(connections, cwd=work, env=env),
            guard=make_guard(connections, env),
        ).run()
    finally:
        client.close()
    data = session.data
    outcome.seconds = round(time.monotonic() - started, 2)
    outcome.compiled = data.valid_oml is not None
    outcome.ran = data.run.get("exit_code") == 0
    outcome.repair_rounds = data.repair_rounds
    outcome.prompt_tokens, outcome.completion_tokens = data.tokens["prompt"], data.tokens["completion"]
    outcome.tokens_estimated = bool(data.tokens.get("estimated"))
    if outcome.ran:
        outcome.rows_ok, outcome.note = compare(work, intent)
    else:
        outcome.note = data.outcome or str(data.state)
    return outcome


def print_report(outcomes: Sequence[Outcome], model: str) -> None:
    yes = {True: "yes", False: "no"}
    print(f"osiris chat eval: model {model}")
    print(
        f"{'intent':<24} {'compiled':>8} {'ran':>4} {'rows':>5} {'repairs':>7} {'tokens':>7} {'s':>6}  note"
    )
    for o in outcomes:
        tokens = f"{o.prompt_tokens + o.completion_tokens}{'~' if o.tokens_estimated else ''}"
        print(
            f"{o.id:<24} {yes[o.compiled]:>8} {yes[o.ran]:>4} {yes[o.rows_ok]:>5} {o.repair_rounds:>7} "
            f"{tokens:>7} {o.seconds:>6.1f}  {o.note}"
        )
    scored = [o for o in outcomes if o.note != "skipped"]
    good = sum(o.rows_ok for o in scored)
    print(
        f"{good}/{len(scored)} intents produced the expected rows; "
        f"{sum(o.repair_rounds for o in scored)} repair rounds; "
        f"{sum(o.prompt_tokens + o.completion_tokens for o in scored)} tokens (~ = estimated)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True, help="OpenAI-compatible API base URL")
    p.add_argument("--model", required=True)
    p.add_argument("--tools", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--max-repairs", type=int, default=3)
    p.add_argument("--only", action="append", default=[], metavar="ID", help="run only these intents")
    p.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    p.add_argument("--prompts", type=Path, help="edited prompt templates")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--verbose", action="store_true", help="show the conversations on stderr")
    p.add_argument("--mysql-host", default="127.0.0.1")
    p.add_argument("--mysql-port", type=int, default=3306)
    p.add_argument("--mysql-user", default="root")
    p.add_argument("--mysql-database", default="osiris_chat_eval")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.path.insert(0, str(REPO))
    from osiris.llm.client import LLMError, LLMSettings

    try:
        settings = LLMSettings.resolve(model=args.model, base_url=args.base_url, stream=args.stream)
    except LLMError as error:
        print(f"chat_eval: {error}", file=sys.stderr)
        return 2
    intents = [i for i in INTENTS if not args.only or i.id in args.only]
    with tempfile.TemporaryDirectory(prefix="osiris-chat-eval-") as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        prepare_work(work, args)
        no_mysql = seed_mysql(args) if any(i.needs_mysql for i in intents) else None
        outcomes = []
        for intent in intents:
            if intent.needs_mysql and no_mysql:
                outcomes.append(Outcome(intent.id, note="skipped"))
                print(f"{intent.id}: skipped: {no_mysql}", file=sys.stderr)
                continue
            outcomes.append(run_intent(intent, work, settings, args))
    print_report(outcomes, args.model)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
