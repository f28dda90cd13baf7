"""The interactive conversation in process, with scripted answers: the side roads a pty test
would take long to reach (repair gives up, the user rephrases and the model starts afresh)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from osiris.compiler.spec_cache import default_registry
from osiris.llm.chat import ChatOptions, Conversation, infer_targets
from osiris.llm.client import ChatClient, LLMSettings
from osiris.llm.session import ChatSession
from osiris.llm.templates import Templates
from osiris.llm.ui import ConsoleUI
from osiris.runtime.discovery_service import DiscoveryService
from tests.llm.conftest import GOOD_OML
from tests.support.openai_server import yaml_reply


def _conversation(project: Path, endpoint, answers: list[str], **options) -> tuple[Conversation, io.StringIO]:
    screen = io.StringIO()
    ui = ConsoleUI(
        interactive=True, console=Console(file=screen, width=120), input_fn=lambda _: answers.pop(0)
    )
    settings = LLMSettings(model="m", base_url=endpoint.server.url, api_key="k", backoff_s=0.01)
    session = ChatSession.create(project / ".osiris" / "chat")
    conversation = Conversation(
        session,
        ChatOptions(cwd=project, tools="off", **options),
        ChatClient(settings),
        ui,
        templates=Templates.load(),
        registry=default_registry(),
        discovery=DiscoveryService(None, cwd=project),
    )
    return conversation, screen


def test_repair_gives_up_then_the_user_rephrases(project: Path, endpoint) -> None:
    broken = GOOD_OML.replace("component: filesystem.parquet_writer", "component: filesystem.parquet_writr")
    endpoint.server.add(yaml_reply(broken), yaml_reply(broken), yaml_reply(GOOD_OML))
    answers = ["copy data/orders.csv somewhere", "n", "copy data/orders.csv to out/orders.parquet", "y", "n"]
    conversation, screen = _conversation(project, endpoint, answers, max_repairs=1)
    assert conversation.run() == 0
    assert not answers
    shown = screen.getvalue()
    assert "still has 1 error(s) after 1 repair round(s)" in shown and "parquet_writr" in shown
    assert "did you mean 'filesystem.parquet_writer'" in shown and "Rephrase the request" in shown
    events = [h["event"] for h in conversation.session.data.history]
    assert events == [
        "start",
        "intent",
        "discovered",
        "drafted",
        "invalid",
        "revised",
        "invalid",
        "gave_up",
        "intent",
        "discovered",
        "drafted",
        "valid",
        "confirmed",
        "compiled",
    ]
    third = endpoint.server.completions[2].json["messages"]
    assert [m["role"] for m in third] == ["system", "user"]  # a fresh model conversation after starting over
    assert (project / "orders-copy.yaml").read_text() == GOOD_OML
    transcripts = sorted(p.name for p in conversation.session.dir.glob("transcript*.jsonl"))
    assert len(transcripts) == 2  # the abandoned conversation is kept beside the new one
    assert json.loads((conversation.session.dir / "state.json").read_text())["state"] == "DONE"


def test_overwrite_is_asked_and_can_go_elsewhere(project: Path, endpoint) -> None:
    (project / "orders-copy.yaml").write_text("# mine\n")
    endpoint.server.add(yaml_reply(GOOD_OML))
    answers = ["copy data/orders.csv to parquet", "n", "y", "n", "other.yaml", "n"]
    conversation, _ = _conversation(project, endpoint, answers)
    assert conversation.run() == 0
    assert (project / "orders-copy.yaml").read_text() == "# mine\n"
    assert (project / "other.yaml").read_text() == GOOD_OML


def test_infer_targets(project: Path, tmp_path: Path) -> None:
    from osiris.runtime.connections import load_connections_file

    (project / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    shop: {database: s, user: u}\n"
        "    crm: {database: c, user: u, default: true}\n  postgres:\n    wh: {host: h}\n"
    )
    conns = load_connections_file(None, project)
    assert infer_targets("copy orders from mysql to parquet", conns, project) == ["@mysql.crm"]
    assert infer_targets("copy shop orders into postgres", conns, project) == ["@mysql.shop", "@postgres.wh"]
    assert infer_targets(
        "join data/orders.csv with data/customers.parquet and data/x.csv", conns, project
    ) == ["data/orders.csv", "data/customers.parquet"]
    assert infer_targets("everything in data/ please", None, project) == ["data"]
