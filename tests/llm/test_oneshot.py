"""One-shot `osiris chat --message ... --yes` against the local replay server."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import Reply, yaml_reply

MYSQL_OML = """oml_version: "0.1.0"
name: orders-to-parquet
steps:
  - id: extract-orders
    component: mysql.extractor
    config:
      connection: "@mysql.shop"
      querry: SELECT id, total FROM orders
  - id: write-orders
    component: filesystem.parquet_writer
    needs: [extract-orders]
    config:
      path: out/orders.parquet
"""

CONNECTIONS = """version: 1
connections:
  mysql:
    shop: {host: 127.0.0.1, database: shop, user: reader, password: "${CHAT_TEST_PW:-x}"}
"""


def test_happy_path_writes_and_runs_the_checked_pipeline(project: Path, endpoint, capsys) -> None:
    endpoint.server.add(yaml_reply(GOOD_OML))
    code = chat(
        "--message",
        "copy data/orders.csv to parquet",
        "--yes",
        "--out",
        "pipeline.yaml",
        "--run",
        "--tools",
        "off",
    )
    assert code == 0
    assert (project / "pipeline.yaml").read_text() == GOOD_OML
    assert pq.read_table(project / "out" / "orders.parquet").num_rows == 2500
    out = capsys.readouterr().out
    assert "wrote pipeline.yaml" in out and "2500 rows written" in out
    [request] = endpoint.server.completions
    body = request.json
    assert "tools" not in body and body["model"] == "replay-model"
    assert "data/orders.csv (2500 rows)" in body["messages"][0]["content"]  # discovered schema in the context
    assert request.headers["authorization"] == "Bearer test-key"
    assert not list(project.glob(".pipeline.yaml-*"))  # atomic write left no temp file


def test_repair_fixes_unknown_key_from_the_diagnostic(project: Path, endpoint) -> None:
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    fixed = MYSQL_OML.replace("querry:", "query:")
    endpoint.server.add(yaml_reply(MYSQL_OML), yaml_reply(fixed))
    code = chat(
        "-m",
        "copy orders from mysql to parquet",
        "--yes",
        "--out",
        "p.yaml",
        "--no-discovery",
        "--tools",
        "off",
    )
    assert code == 0
    assert (project / "p.yaml").read_text() == fixed
    first, second = endpoint.server.completions
    repair = second.json["messages"][-1]["content"]
    assert "OML042" in repair and "did you mean 'query'?" in repair
    assert "querry" in repair and "round 1 of 3" in repair
    assert [m["role"] for m in second.json["messages"]] == ["system", "user", "assistant", "user"]


def test_repair_gives_up_cleanly_and_says_what_is_wrong(project: Path, endpoint, capsys) -> None:
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    endpoint.server.add(*[yaml_reply(MYSQL_OML) for _ in range(3)])
    code = chat(
        "-m", "copy orders from mysql", "--yes", "--no-discovery", "--tools", "off", "--max-repairs", "2"
    )
    assert code == 1
    assert len(endpoint.server.completions) == 3  # the draft plus two repair rounds
    err = capsys.readouterr().err
    assert "still has 2 error(s) after 2 repair round(s)" in err
    assert "OML042 unknown config key 'querry'" in err and "OML045" in err
    assert "Traceback" not in err
    assert not (project / "orders-to-parquet.yaml").exists()
    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    assert state["state"] == "FAILED" and state["repair_rounds"] == 2
    assert [h["event"] for h in state["history"]][-2:] == ["invalid", "abort"]


def test_a_reply_without_yaml_is_a_failed_draft(project: Path, endpoint) -> None:
    endpoint.server.add(Reply(content="I would copy the orders."), yaml_reply(GOOD_OML))
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "-o", "p.yaml", "--tools", "off") == 0
    assert "no pipeline" in endpoint.server.completions[1].json["messages"][-1]["content"]


def test_500_then_200_is_retried(project: Path, endpoint) -> None:
    endpoint.server.add(Reply(status=500), Reply(status=503), yaml_reply(GOOD_OML))
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "-o", "p.yaml", "--tools", "off") == 0
    assert len(endpoint.server.completions) == 3
    assert (project / "p.yaml").exists()


def test_401_is_one_clear_line(project: Path, endpoint, capsys) -> None:
    endpoint.server.api_key = "the-right-key"
    endpoint.use(key="a-wrong-key")
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off") == 1
    err = capsys.readouterr().err
    assert "rejected the API key (HTTP 401)" in err and "OSIRIS_LLM_API_KEY" in err
    assert "Traceback" not in err and "a-wrong-key" not in err
    assert len(endpoint.server.completions) == 1  # a 401 is never retried


def test_unreachable_endpoint(project: Path, monkeypatch, capsys) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OSIRIS_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OSIRIS_LLM_MODEL", "m")
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "--tools", "off") == 1
    err = capsys.readouterr().err
    assert f"cannot reach the LLM endpoint at http://127.0.0.1:{port}/v1: connection refused" in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(project: Path, endpoint, monkeypatch, capsys) -> None:
    assert chat("--no-such-flag") == 2
    assert chat() == 2  # no terminal, no --message
    assert "needs a terminal" in capsys.readouterr().err
    assert chat("-m", "x") == 2  # no --yes without a terminal
    monkeypatch.delenv("OSIRIS_LLM_MODEL")
    assert chat("-m", "x", "-y") == 2
    assert "no model chosen" in capsys.readouterr().err
    assert chat("--resume", "20990101T000000Z-000000") == 2


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calling_path(project: Path, endpoint, stream: bool) -> None:
    endpoint.server.add(
        Reply(tool_calls=[("list_components", {}), ("discover", {"target": "data/customers.parquet"})]),
        Reply(
            tool_calls=[
                ("describe_component", {"name": "filesystem.parquet_writer"}),
                ("check_oml", {"oml": GOOD_OML.replace("path: data/orders.csv", "pth: x")}),
            ]
        ),
        Reply(tool_calls=[("check_oml", {"oml": GOOD_OML})]),
        Reply(content="Done: the pipeline passed check_oml."),
    )
    args = ["-m", "copy data/orders.csv to parquet", "-y", "-o", "p.yaml", "--tools", "on"]
    assert chat(*args, "--stream" if stream else "--no-stream") == 0
    assert (project / "p.yaml").read_text() == GOOD_OML  # the last draft check_oml accepted
    requests = endpoint.server.completions
    assert len(requests) == 4
    assert all(r.json.get("stream", False) is stream for r in requests)
    assert {t["function"]["name"] for t in requests[0].json["tools"]} == {
        "list_components",
        "describe_component",
        "discover",
        "check_oml",
    }
    tool_results = [m for m in requests[1].json["messages"] if m["role"] == "tool"]
    assert "filesystem.csv_extractor (extractor, filesystem)" in tool_results[0]["content"]
    assert "data/customers.parquet (300 rows)" in tool_results[1]["content"]
    checked = json.loads([m["content"] for m in requests[2].json["messages"] if m["role"] == "tool"][-1])
    assert checked["ok"] is False and {d["code"] for d in checked["diagnostics"]} >= {"OML042"}
    final = json.loads(requests[3].json["messages"][-1]["content"])
    assert final == {"ok": True, "diagnostics": []}


def test_tools_rejected_falls_back_to_fenced_yaml(project: Path, endpoint) -> None:
    endpoint.server.add(Reply(status=400, error_message="model does not support tools"), yaml_reply(GOOD_OML))
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "-o", "p.yaml") == 0
    first, second = endpoint.server.completions
    assert "tools" in first.json and "tools" not in second.json
    assert "one ```yaml block" in second.json["messages"][0]["content"]
    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    assert state["mode"] == "text"


def test_resume_continues_after_a_failed_request(project: Path, endpoint) -> None:
    endpoint.server.add(Reply(status=500), Reply(status=500))
    assert chat("-m", "copy data/orders.csv to parquet", "-y", "-o", "p.yaml", "--tools", "off") == 1
    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    assert state["state"] == "SYNTHESIS"
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat("--resume", "last", "-y", "--tools", "off") == 0
    assert (project / "p.yaml").read_text() == GOOD_OML
    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    assert state["state"] == "DONE" and state["out"] == "p.yaml"


def test_a_failed_run_exits_1_with_the_cause(project: Path, endpoint, capsys) -> None:
    missing = GOOD_OML.replace("data/orders.csv", "data/nope.csv")
    endpoint.server.add(yaml_reply(missing))
    code = chat("-m", "copy data/nope.csv to parquet", "-y", "-o", "p.yaml", "--run", "--tools", "off")
    assert code == 1
    assert (project / "p.yaml").read_text() == missing  # written (it passed check), then the run failed
    err = capsys.readouterr().err
    assert "failed: step extract-orders" in err and "nope.csv" in err and "Traceback" not in err
