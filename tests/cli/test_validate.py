"""`osiris validate`: the setup checks, the three modes, exit codes, settings with their sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.cli.osiris import main

CONNECTIONS = """\
version: 1
connections:
  filesystem:
    local:
      base_dir: .
      default: true
  mysql:
    shop:
      host: 127.0.0.1
      database: shop
      user: reader
      password: ${VALIDATE_TEST_PASSWORD}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    assert main(["init", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path)
    for name in ("OSIRIS_VALIDATION", "VALIDATE_TEST_PASSWORD", "OSIRIS_SESSIONS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["validate", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_a_fresh_init_project_passes_even_strict(project, capsys):
    code, report = _json(capsys, "--mode", "strict")
    assert code == 0 and report["ok"] is True and report["errors"] == report["warnings"] == 0
    assert report["config_file"] == "osiris.yaml"


def test_each_setting_is_printed_with_its_value_and_source(project, capsys, monkeypatch):
    monkeypatch.setenv("OSIRIS_SESSIONS_DIR", "elsewhere")
    code, report = _json(capsys, "--mode", "warn")
    settings = {s["name"]: s for s in report["settings"]}
    assert settings["sessions_dir"] == {"name": "sessions_dir", "value": "elsewhere",
                                        "source": "env:OSIRIS_SESSIONS_DIR"}
    assert settings["connections"]["source"] == "osiris.yaml:7"
    assert settings["validation"]["source"] == "cli"
    assert settings["run.batch_rows"] == {"name": "run.batch_rows", "value": 65536, "source": "default"}
    main(["validate"])
    text = capsys.readouterr().out
    assert "sessions_dir" in text and "env:OSIRIS_SESSIONS_DIR" in text and "osiris.yaml:7" in text


def test_an_unset_variable_warns_in_warn_mode_and_fails_in_strict_mode(project, capsys):
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    code, report = _json(capsys, "--mode", "warn")
    assert code == 0 and report["warnings"] == 1
    (check,) = [c for c in report["checks"] if c["code"] == "OML076"]
    assert check["where"] == "osiris_connections.yaml:12:17" and "VALIDATE_TEST_PASSWORD" in check["message"]
    code, report = _json(capsys, "--mode", "strict")
    assert code == 1 and report["ok"] is False


def test_osiris_validation_sets_the_mode_and_the_command_line_beats_it(project, capsys, monkeypatch):
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    monkeypatch.setenv("OSIRIS_VALIDATION", "strict")
    assert _json(capsys)[0] == 1
    assert _json(capsys, "--mode", "warn")[0] == 0


def test_off_only_prints_the_settings(project, capsys):
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    code, report = _json(capsys, "--mode", "off")
    assert code == 0 and report["checks"] == [] and report["settings"]


def test_a_variable_that_is_set_is_named_but_its_value_never_printed(project, capsys, monkeypatch):
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    monkeypatch.setenv("VALIDATE_TEST_PASSWORD", "hunter2-secret")
    assert main(["validate", "--mode", "strict"]) == 0
    out = capsys.readouterr().out
    assert "hunter2-secret" not in out


def test_a_bad_osiris_yaml_fails_with_file_line_column_and_code(project, capsys):
    (project / "osiris.yaml").write_text("version: 1\nvalidation: loud\n")
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "osiris.yaml:2:1: error[OML097]: setting 'validation' 'loud'" in out
    assert "Traceback" not in out


def test_a_connections_file_named_by_a_setting_must_exist(project, capsys):
    code, report = _json(capsys, "--connections", "nope.yaml")
    assert code == 1
    assert [c["code"] for c in report["checks"] if c["severity"] == "error"] == ["OML091"]


def test_a_broken_connections_file_is_an_error_at_its_line(project, capsys):
    (project / "osiris_connections.yaml").write_text("version: 1\nconnections:\n  filesystem:\n    x: 5\n")
    code, report = _json(capsys)
    assert code == 1
    errors = [c for c in report["checks"] if c["severity"] == "error"]
    assert errors and errors[0]["code"] == "OML074" and errors[0]["where"].startswith("osiris_connections.yaml:")


def test_doctor_reaches_the_connections(project, capsys):
    code, report = _json(capsys, "--doctor")
    assert code == 0
    assert any(c["code"] == "doctor" and c["where"] == "@filesystem.local" and c["severity"] == "note"
               for c in report["checks"])


def test_doctor_failure_fails_validate(project, capsys):
    (project / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  filesystem:\n    gone:\n      base_dir: missing-dir\n")
    code, report = _json(capsys, "--doctor")
    assert code == 1
    assert any(c["code"] == "doctor" and c["severity"] == "error" for c in report["checks"])


def test_no_osiris_yaml_is_a_note_not_a_failure(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OSIRIS_VALIDATION", raising=False)
    code = main(["validate", "--mode", "strict"])
    out = capsys.readouterr().out
    assert "no osiris.yaml" in out
    assert code == 1  # strict: no connections file is a warning
    assert main(["validate"]) == 0
