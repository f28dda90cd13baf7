"""bench/chat_eval.py end to end against the replay server, with scripted (correct) answers.

One intent's first draft has a misspelled key, so the report must show a repair round; the
MariaDB intent reads the seeded database through the real driver.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.llm.conftest import REPO
from tests.support.openai_server import Reply, yaml_reply

HEAD = 'oml_version: "0.1.0"\nname: {name}\nsteps:\n'
CSV = "  - id: src\n    component: filesystem.csv_extractor\n    config: {{path: data/{file}}}\n"
PARQUET = "  - id: src\n    component: filesystem.parquet_extractor\n    config: {{path: data/{file}}}\n"
SQL = "  - id: shape\n    component: duckdb.processor\n    needs: [src]\n    config:\n      {key}: {query}\n"
WRITE = (
    "  - id: write\n    component: filesystem.{kind}_writer\n    needs: [{after}]\n"
    "    config: {{path: {path}}}\n"
)

ANSWERS: dict[str, list[str]] = {
    "copy-orders": [
        HEAD.format(name="copy-orders")
        + CSV.format(file="orders.csv")
        + WRITE.format(kind="parquet", after="src", path="out/copy-orders.parquet")
    ],
    "paid-orders": [
        HEAD.format(name="paid-orders")
        + CSV.format(file="orders.csv")
        + SQL.format(key=key, query="SELECT order_id, amount FROM input_df WHERE status = 'paid'")
        + WRITE.format(kind="csv", after="shape", path="out/paid-orders.csv")
        for key in ("querry", "query")
    ],
    "revenue-by-country": [
        HEAD.format(name="revenue")
        + CSV.format(file="orders.csv")
        + PARQUET.format(file="customers.parquet").replace("id: src", "id: customers")
        + "  - id: shape\n    component: duckdb.processor\n    needs: [src, customers]\n"
        "    config:\n      query: SELECT c.country, round(sum(o.amount), 2) AS revenue "
        "FROM src o JOIN customers c ON c.id = o.customer_id GROUP BY c.country\n"
        + WRITE.format(kind="parquet", after="shape", path="out/revenue-by-country.parquet")
    ],
    "top-products": [
        HEAD.format(name="top-products")
        + PARQUET.format(file="products.parquet")
        + SQL.format(key="query", query="SELECT sku, name, price FROM input_df ORDER BY price DESC LIMIT 5")
        + WRITE.format(kind="csv", after="shape", path="out/top-products.csv")
    ],
    "mysql-german-customers": [
        HEAD.format(name="german") + "  - id: src\n    component: mysql.extractor\n"
        '    config:\n      connection: "@mysql.eval"\n'
        "      query: SELECT id, name FROM customers WHERE country = 'DE'\n"
        + WRITE.format(kind="parquet", after="src", path="out/mysql-german-customers.parquet")
    ],
}


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("chat_eval", REPO / "bench" / "chat_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_eval"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.mark.mysql
def test_chat_eval_against_the_replay_server(project: Path, endpoint, mysql_db: dict, capsys) -> None:
    bench = _load_bench()
    queues = {intent_id: [yaml_reply(oml) for oml in answers] for intent_id, answers in ANSWERS.items()}

    def choose(body: dict) -> Reply:
        first_user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        intent_id = next(i.id for i in bench.INTENTS if f"out/{i.id}." in first_user)
        return queues[intent_id].pop(0)

    endpoint.server.chooser = choose
    code = bench.main(
        [
            "--base-url",
            endpoint.server.url,
            "--model",
            "replay-model",
            "--tools",
            "off",
            "--work",
            str(project / "work"),
            "--json",
            str(project / "eval.json"),
            "--mysql-database",
            mysql_db["database"],
        ]
    )
    assert code == 0
    report = capsys.readouterr().out
    assert "5/5 intents produced the expected rows; 1 repair rounds" in report
    results = {r["id"]: r for r in json.loads((project / "eval.json").read_text())}
    assert all(r["compiled"] and r["ran"] and r["rows_ok"] for r in results.values()), results
    assert results["paid-orders"]["repair_rounds"] == 1 and results["copy-orders"]["repair_rounds"] == 0
    assert results["paid-orders"]["prompt_tokens"] == 200  # two requests, 100 each as the server reported
    assert results["mysql-german-customers"]["note"] == "44 rows"
    assert not any(queues.values())  # every scripted answer was used, none asked twice
