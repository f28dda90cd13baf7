"""`--json` on every command that prints data: one JSON document on stdout, nothing else there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.cli import omlc, osiris

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "pipeline.yaml"


def _json_out(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_init_json_lists_what_was_created_and_kept(tmp_path, capsys) -> None:
    (tmp_path / "pipeline.yaml").write_text("mine")
    assert osiris.main(["init", str(tmp_path), "--json"]) == 0
    body = _json_out(capsys)
    assert body["kept"] == ["pipeline.yaml"] and "osiris_connections.yaml" in body["created"]


def test_graph_json_has_the_steps_and_data_edges(capsys) -> None:
    assert omlc.main(["graph", str(QUICKSTART), "--json"]) == 0
    body = _json_out(capsys)
    assert [s["id"] for s in body["steps"]][:2] == ["extract-orders", "extract-customers"]
    assert {"from": "extract-orders", "to": "revenue-by-country", "input": "orders"} in body["edges"]


def test_check_json_is_format_json(tmp_path, capsys) -> None:
    assert omlc.main(["check", str(QUICKSTART), "--json"]) == 0
    assert _json_out(capsys)["summary"] == {"errors": 0, "warnings": 0}


def test_report_json_names_the_written_report(tmp_path, monkeypatch, capsys) -> None:
    assert osiris.main(["init", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path)
    assert osiris.main(["run", "pipeline.yaml", "--quiet"]) == 0
    capsys.readouterr()
    assert osiris.main(["report", "last", "--json"]) == 0
    body = _json_out(capsys)
    assert Path(body["report"]).is_file() and body["report"].endswith("report.html")


def test_dump_prompts_json_lists_the_templates_written(tmp_path, capsys) -> None:
    assert osiris.main(["dump-prompts", "--export", str(tmp_path / "p"), "--json"]) == 0
    written = _json_out(capsys)["written"]
    assert written and all(Path(p).is_file() for p in written)
