"""`osiris report` of a session someone else edited: it reads only the session's own plain files
(a symbolic link to the connections file is not followed, so its password is not shown), shows
nothing from JSON too deep or too strange to render rather than crashing, and writes only inside
the session. Found by an adversarial review of manifest version 3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.runtime.conftest import osiris_inproc
from tests.runtime.test_report_shows_the_graph_timeline_and_failing_oml_line import run_failing_pipeline

SECRET = "hunter2-the-password"


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_failing_pipeline(tmp_path_factory.mktemp("report") / "project")


@pytest.fixture
def session(original: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project" / ".osiris" / "sessions" / "demo"
    shutil.copytree(original, copy)
    (tmp_path / "project" / "osiris_connections.yaml").write_text(
        f"version: 1\nconnections:\n  mysql:\n    shop: {{host: db, user: u, password: {SECRET}}}\n")
    return copy


def _report(session: Path) -> tuple[int, str, str]:
    result = osiris_inproc("report", "demo", cwd=session.parents[2])
    page = session / "artifacts" / "report.html"
    return result.returncode, result.stderr, page.read_text() if page.is_file() else ""


@pytest.mark.parametrize("name", ["manifest.yaml", "cfg.json", "effective_config.json"])
def test_a_compiled_file_linked_to_the_connections_file_is_not_followed(session: Path, name: str) -> None:
    target = session / "compiled" / name
    target.unlink()
    target.symlink_to(session.parents[2] / "osiris_connections.yaml")
    code, err, html = _report(session)
    assert code == 0, err
    assert SECRET not in html and "Traceback" not in err


@pytest.mark.parametrize(("name", "text"), [
    ("cfg.json", '{"orders": ' + "[" * 900 + "]" * 900 + "}"),
    ("effective_config.json", '{"params": ' + "[" * 5000 + "]" * 5000 + "}"),
    ("cfg.json", '{"orders": {"path": "\\ud800"}}'),
    ("effective_config.json", '{"params": {"\\udfff": 1}}'),
])
def test_json_too_deep_or_with_a_lone_surrogate_is_left_out_not_a_crash(session: Path, name: str, text: str) -> None:
    (session / "compiled" / name).write_text(text, encoding="utf-8")
    code, err, html = _report(session)
    assert code == 0, err
    assert "<h2>Timeline</h2>" in html and "RecursionError" not in err and "UnicodeEncodeError" not in err


def test_an_artifacts_folder_that_leads_elsewhere_gets_no_report(session: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(session / "artifacts", ignore_errors=True)
    (session / "artifacts").symlink_to(elsewhere)
    result = osiris_inproc("report", "demo", cwd=session.parents[2])
    assert result.returncode != 0 and "symbolic link" in result.stderr and "Traceback" not in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_the_untouched_session_still_shows_its_config(session: Path) -> None:
    code, err, html = _report(session)
    assert code == 0, err
    assert json.loads((session / "compiled" / "cfg.json").read_text())["orders"]["path"] == "orders.csv"
    assert "orders.csv" in html
