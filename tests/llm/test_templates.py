"""dump-prompts exports the templates; --prompts / --pro-mode use edited ones."""

from __future__ import annotations

from pathlib import Path

from osiris.cli.chat import dump_prompts_main
from osiris.llm.templates import PLACEHOLDERS
from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import yaml_reply


def test_export_writes_every_template_and_keeps_edits(project: Path, capsys) -> None:
    assert dump_prompts_main(["--export", "prompts"]) == 0
    assert sorted(p.stem for p in (project / "prompts").glob("*.md")) == sorted(PLACEHOLDERS)
    assert dump_prompts_main(["--export", "prompts"]) == 2  # never overwrites edits silently
    assert "--force" in capsys.readouterr().err
    assert dump_prompts_main(["--export", "prompts", "--force"]) == 0
    assert dump_prompts_main(["--export"]) == 0 and (project / ".osiris" / "prompts" / "system.md").is_file()


def test_edited_prompts_are_used(project: Path, endpoint) -> None:
    dump_prompts_main(["--export", "mine"])
    system = project / "mine" / "system.md"
    system.write_text("HOUSE RULES: write tidy OML.\n" + system.read_text())
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert (
        chat(
            "-m",
            "copy data/orders.csv to parquet",
            "-y",
            "-o",
            "p.yaml",
            "--tools",
            "off",
            "--prompts",
            "mine",
        )
        == 0
    )
    assert endpoint.server.completions[0].json["messages"][0]["content"].startswith("HOUSE RULES")


def test_pro_mode_reads_the_default_export(project: Path, endpoint) -> None:
    dump_prompts_main([])
    intent = project / ".osiris" / "prompts" / "intent.md"
    intent.write_text("Request: {{intent}}\n")
    endpoint.server.add(yaml_reply(GOOD_OML))
    assert chat("-m", "copy data/orders.csv", "-y", "-o", "p.yaml", "--tools", "off", "--pro-mode") == 0
    assert endpoint.server.completions[0].json["messages"][1]["content"] == "Request: copy data/orders.csv\n"


def test_unknown_placeholder_is_a_usage_error(project: Path, endpoint, capsys) -> None:
    dump_prompts_main(["--export", "bad"])
    (project / "bad" / "repair.md").write_text("{{diagnostics}} {{secrets}}")
    assert chat("-m", "x", "-y", "--prompts", "bad") == 2
    assert "unknown placeholder {{secrets}}" in capsys.readouterr().err
    assert not endpoint.server.completions
