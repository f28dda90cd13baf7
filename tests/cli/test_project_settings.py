"""osiris.yaml and the settings model: precedence, sources, and errors that point at the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osiris.cli.project import find_root, load_project
from osiris.cli.settings import ENV_VARS, SettingsError, leaf_keys


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "osiris.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_apply_without_osiris_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = load_project(env={})
    assert project.config is None and project.root == tmp_path.resolve()
    assert project.settings.sessions_dir == ".osiris/sessions"
    assert set(project.resolved.sources.values()) == {"default"}


def test_osiris_yaml_beats_the_default_and_names_its_line(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "version: 1\nsessions_dir: runs\nrun:\n  step_memory: 1GiB\n"))
    project = load_project(env={})
    assert project.settings.sessions_dir == "runs"
    assert project.settings.run.step_memory == 2**30
    assert project.resolved.sources["sessions_dir"] == "osiris.yaml:2"
    assert project.resolved.sources["run.step_memory"] == "osiris.yaml:4"


def test_environment_beats_osiris_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "validation: warn\ne2b:\n  timeout_s: 60\n"))
    project = load_project(env={"OSIRIS_VALIDATION": "strict", "OSIRIS_E2B_TIMEOUT": "90"})
    assert project.settings.validation == "strict" and project.settings.e2b.timeout_s == 90
    assert project.resolved.sources["validation"] == "env:OSIRIS_VALIDATION"


def test_command_line_beats_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "validation: warn\n"))
    project = load_project(env={"OSIRIS_VALIDATION": "strict"}, cli={"validation": "off"})
    assert project.settings.validation == "off" and project.resolved.sources["validation"] == "cli"


def test_relative_paths_in_osiris_yaml_resolve_against_the_project_root(tmp_path, monkeypatch):
    _project(tmp_path, "sessions_dir: runs\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    project = load_project(env={})
    assert project.root == tmp_path.resolve()
    assert project.path("sessions_dir") == tmp_path.resolve() / "runs"
    assert find_root(tmp_path / "deep") == tmp_path.resolve()


def test_unknown_key_names_file_line_column_code_and_the_nearest_key(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "version: 1\nsesions_dir: x\nchat:\n  modle: m\n"))
    with pytest.raises(SettingsError) as caught:
        load_project(env={})
    rendered = "".join(p.render() for p in caught.value.problems)
    assert "osiris.yaml:2:1: error[OML097]: unknown setting 'sesions_dir'" in rendered
    assert "did you mean 'sessions_dir'?" in rendered
    assert "osiris.yaml:4:3: error[OML097]: unknown setting 'chat.modle'" in rendered
    assert "did you mean 'chat.model'?" in rendered


def test_a_bad_value_and_a_bad_variable_are_reported_together(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "run:\n  batch_rows: -3\n"))
    with pytest.raises(SettingsError) as caught:
        load_project(env={"OSIRIS_E2B_TIMEOUT": "soon"})
    wheres = {(p.where, p.code) for p in caught.value.problems}
    assert wheres == {("osiris.yaml:2:3", "OML097"), ("$OSIRIS_E2B_TIMEOUT", "OML097")}


def test_yaml_syntax_error_gives_file_line_column(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "version: 1\nrun: [unclosed\n"))
    with pytest.raises(SettingsError) as caught:
        load_project(env={})
    (problem,) = caught.value.problems
    assert problem.code == "OML001" and problem.where.startswith("osiris.yaml:")
    assert problem.where.count(":") == 2


def test_a_secret_in_osiris_yaml_is_refused_with_where_it_belongs(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "chat:\n  api_key: sk-123\n"))
    with pytest.raises(SettingsError) as caught:
        load_project(env={})
    (problem,) = caught.value.problems
    assert "secrets do not belong" in problem.message and "OSIRIS_LLM_API_KEY" in (problem.help or "")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_osiris_yaml_is_refused_not_read(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "osiris.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_project(env={})
    assert caught.value.problems[0].code == "OML014"


def test_every_setting_but_the_sandbox_env_list_has_an_environment_variable():
    assert set(ENV_VARS) == {key for key, _ in leaf_keys()} - {"version", "e2b.env"}


def test_the_chat_default_endpoint_is_the_clients():
    from osiris.cli.settings import DEFAULT_CHAT_URL
    from osiris.llm.client import DEFAULT_BASE_URL

    assert DEFAULT_CHAT_URL == DEFAULT_BASE_URL


def test_chat_settings_from_osiris_yaml_reach_the_client_unless_the_environment_sets_them(tmp_path, monkeypatch):
    from osiris.cli.project_args import chat_environment

    monkeypatch.chdir(_project(tmp_path, "chat:\n  model: from-file\n  base_url: http://file/v1\n  stream: true\n"))
    env = chat_environment({"OSIRIS_LLM_MODEL": "from-env"})
    assert env["OSIRIS_LLM_MODEL"] == "from-env"
    assert env["OSIRIS_LLM_BASE_URL"] == "http://file/v1" and env["OSIRIS_LLM_STREAM"] == "1"
    assert "OSIRIS_LLM_BASE_URL" not in chat_environment({"OPENAI_BASE_URL": "http://env/v1"})


def test_step_memory_is_a_size_and_a_bare_number_is_mib_at_every_level(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, "run:\n  step_memory: 256\n"))
    assert load_project(env={}).settings.run.step_memory == 256 * 2**20
    assert load_project(env={"OSIRIS_STEP_MEMORY": "2GiB"}).settings.run.step_memory == 2 * 2**30
    assert load_project(env={}, cli={"run.step_memory": "1000B"}).settings.run.step_memory == 1000


def test_osiris_run_takes_its_budgets_from_osiris_yaml_below_its_flags(tmp_path, monkeypatch):
    import argparse

    from osiris.cli.project_args import apply_project_settings

    monkeypatch.chdir(_project(tmp_path, "run:\n  step_memory: 64MiB\n  batch_rows: 100\n"))
    monkeypatch.delenv("OSIRIS_BATCH_ROWS", raising=False)
    monkeypatch.delenv("OSIRIS_STEP_MEMORY", raising=False)
    args = argparse.Namespace(command="run", pipeline="p.yaml", manifest=None, session_dir=None, connections=None,
                              step_memory=None, batch_rows=7, e2b=False, e2b_timeout=None, e2b_cpu=None,
                              e2b_template=None, e2b_env=[], e2b_transport=None)
    assert apply_project_settings(args) is None
    assert args.step_memory == 64 * 2**20 and args.batch_rows == 7
    assert args.project_root == tmp_path.resolve() and args.pipeline == "p.yaml"


def test_docs_project_md_lists_every_setting_with_its_variable_and_default():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "project.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in docs.splitlines() if line.startswith("| `")}
    for key, info in leaf_keys():
        assert key in rows, f"docs/project.md has no row for {key}"
        if key in ENV_VARS:
            assert f"`{ENV_VARS[key]}`" in rows[key], key
        assert (info.description or "") in rows[key], key


def test_the_repository_osiris_yaml_and_the_init_template_are_valid(tmp_path, monkeypatch):
    from osiris.cli.commands.init_cmd import PROJECT

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    assert load_project(env={}).config == repo / "osiris.yaml"
    monkeypatch.chdir(_project(tmp_path, PROJECT))
    assert load_project(env={}).resolved.sources["sessions_dir"].startswith("osiris.yaml:")


def _run_args(**overrides):
    import argparse

    values = dict(command="run", pipeline="p.yaml", manifest=None, session_dir=None, connections=None,
                  step_memory=None, batch_rows=None, e2b=False, e2b_timeout=None, e2b_cpu=None,
                  e2b_template=None, e2b_env=[], e2b_transport=None)
    return argparse.Namespace(**{**values, **overrides})


def test_sandbox_settings_apply_with_e2b_and_stay_out_without_it(tmp_path, monkeypatch):
    from osiris.cli.project_args import apply_project_settings

    monkeypatch.chdir(_project(tmp_path, "e2b:\n  timeout_s: 60\n  transport: local\n  env: [TZ]\n"))
    for name in ("OSIRIS_E2B_TIMEOUT", "OSIRIS_E2B_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    without = _run_args()
    assert apply_project_settings(without) is None
    assert without.e2b_timeout is None and without.e2b_transport is None and without.e2b_env == []
    with_e2b = _run_args(e2b=True, e2b_timeout=30)
    assert apply_project_settings(with_e2b) is None
    assert (with_e2b.e2b_timeout, with_e2b.e2b_transport, with_e2b.e2b_env) == (30, "local", ["TZ"])
